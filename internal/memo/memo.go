package memo

import "sync"

// DefaultMax is the bound of a Map whose Max is zero.
const DefaultMax = 1024

// Map remembers values by key. The zero value is ready to use.
type Map[K comparable, V any] struct {
	// Max is how many values it holds before it is emptied; DefaultMax
	// when zero.
	Max int

	mu sync.Mutex
	m  map[K]V
}

// Get returns the value remembered for k.
func (c *Map[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// Put remembers v for k, first forgetting everything if the map is full.
func (c *Map[K, V]) Put(k K, v V) {
	bound := c.Max
	if bound <= 0 {
		bound = DefaultMax
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, there := c.m[k]; !there && (c.m == nil || len(c.m) >= bound) {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}

// Len is how many values it holds.
func (c *Map[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
