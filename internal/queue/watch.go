package queue

// Watcher delivers a signal on C whenever a queue's figures change: a
// message arrives, is received, deleted, or becomes visible. Signals
// coalesce: a slow reader gets one signal for many changes and reads the
// current figures with [Engine.Stats]. C is also signalled once when the
// queue is deleted.
type Watcher struct {
	C <-chan struct{}
	c chan struct{}
	q *queueState
}

// Watch subscribes to a queue's changes until the Watcher is closed.
func (e *Engine) Watch(queue string) (*Watcher, error) {
	q, err := e.queue(queue)
	if err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, q: q}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		return nil, queueNotFound(queue)
	}
	q.watchers[w] = struct{}{}
	return w, nil
}

func (w *Watcher) notify() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// Close ends the subscription.
func (w *Watcher) Close() {
	w.q.mu.Lock()
	delete(w.q.watchers, w)
	w.q.mu.Unlock()
}
