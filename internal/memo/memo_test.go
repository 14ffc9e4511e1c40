package memo

import (
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	var m Map[string, int]
	if _, ok := m.Get("a"); ok {
		t.Fatal("the zero Map holds a value")
	}
	m.Put("a", 1)
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v; want 1, true", v, ok)
	}
	m.Put("a", 2)
	if v, _ := m.Get("a"); v != 2 || m.Len() != 1 {
		t.Fatalf("after a second Put: %d with %d values, want 2 with 1", v, m.Len())
	}
}

// A full map is emptied before the next value goes in: it never holds
// more than Max.
func TestMapBound(t *testing.T) {
	m := Map[int, int]{Max: 3}
	for i := range 3 {
		m.Put(i, i)
	}
	if m.Len() != 3 {
		t.Fatalf("%d values, want 3", m.Len())
	}
	m.Put(3, 3)
	if _, ok := m.Get(0); ok || m.Len() != 1 {
		t.Fatalf("after the bound: %d values, 0 still there = %v; want only 3", m.Len(), ok)
	}
	if v, ok := m.Get(3); !ok || v != 3 {
		t.Fatalf("Get(3) = %d, %v", v, ok)
	}
	var d Map[int, int]
	for i := range DefaultMax + 1 {
		d.Put(i, i)
	}
	if d.Len() != 1 {
		t.Fatalf("zero Max: %d values after DefaultMax+1 puts, want 1", d.Len())
	}
}

func TestMapConcurrent(t *testing.T) {
	m := Map[int, int]{Max: 50}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				m.Put(i%100, g)
				m.Get(i % 100)
			}
		})
	}
	wg.Wait()
	if n := m.Len(); n > 50 {
		t.Fatalf("%d values, over the bound of 50", n)
	}
}

// Putting a key the full map holds already replaces its value and keeps
// the rest.
func TestMapOverwriteAtBound(t *testing.T) {
	m := Map[int, int]{Max: 2}
	m.Put(1, 1)
	m.Put(2, 2)
	m.Put(2, 20)
	if v, ok := m.Get(1); !ok || v != 1 || m.Len() != 2 {
		t.Fatalf("after overwriting at the bound: 1 → %d, %v with %d values; want 1 kept", v, ok, m.Len())
	}
}
