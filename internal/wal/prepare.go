package wal

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// preparer is the background goroutine that keeps slow file work off the
// writer's path: it preallocates the next segment while the writer fills the
// current one, and gives back the unused preallocated tail of a segment the
// writer has left (truncating 64 MiB of blocks takes ~20 ms here, which the
// writer would otherwise spend with every caller waiting).
//
// It has at most one segment requested at a time: the writer asks for
// segment n+1 as soon as it takes segment n into use.
type preparer struct {
	l     *Log
	jobs  chan job
	ready chan prepared
	done  chan struct{}
	halt  atomic.Bool
	want  uint32 // the segment requested and not yet taken; writer-owned
}

// job is one piece of background work: preallocate segment prepare, or
// truncate segment trim to its records' end.
type job struct {
	prepare uint32
	trim    *segment
}

type prepared struct {
	id  uint32
	f   *os.File
	err error
}

func startPreparer(l *Log, first uint32) *preparer {
	p := &preparer{
		l:     l,
		jobs:  make(chan job, 16),
		ready: make(chan prepared, 1),
		done:  make(chan struct{}),
	}
	go p.run()
	p.request(first)
	return p
}

func (p *preparer) run() {
	defer close(p.done)
	for j := range p.jobs {
		switch {
		case p.halt.Load():
			// Closing: leave the rest undone.
			if j.prepare != 0 {
				p.ready <- prepared{id: j.prepare, err: errStopped}
			}
		case j.trim != nil:
			p.l.trim(j.trim)
		default:
			start := time.Now()
			f, err := preallocate(p.l.opts.Dir, j.prepare, p.l.opts.SegmentSize, &p.halt, true)
			if err == nil {
				p.l.log.Debug("prepared spare segment", "segment", j.prepare, "duration", time.Since(start))
			}
			p.ready <- prepared{id: j.prepare, f: f, err: err}
		}
	}
}

func (p *preparer) request(id uint32) {
	p.want = id
	p.jobs <- job{prepare: id}
}

// take waits for the spare segment id and asks for the one after it.
func (p *preparer) take(id uint32) (*os.File, error) {
	if p.want != id {
		return nil, fmt.Errorf("wal: internal error: segment %d prepared, %d wanted", p.want, id)
	}
	var r prepared
	select {
	case r = <-p.ready:
	default:
		// Appends are outrunning preallocation; everyone waits.
		start := time.Now()
		r = <-p.ready
		p.l.log.Info("waited for the next segment to be preallocated",
			"segment", id, "wait", time.Since(start))
	}
	p.request(id + 1)
	return r.f, r.err
}

// trimLater asks for s to be truncated to the end of its records.
func (p *preparer) trimLater(s *segment) { p.jobs <- job{trim: s} }

// stop ends the goroutine and deletes an unused spare segment. The writer
// must have exited.
func (p *preparer) stop() {
	p.halt.Store(true)
	close(p.jobs)
	<-p.done
	select {
	case r := <-p.ready:
		if r.f != nil {
			r.f.Close()
			os.Remove(r.f.Name())
		}
	default:
	}
}

// trim truncates a segment the writer has left to the end of its records,
// releasing the rest of its preallocation. It needs no sync: if a crash
// comes first, the tail is zeros, which read as the end. A segment dropped
// meanwhile is left alone.
func (l *Log) trim(s *segment) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed || len(l.segs) == 0 || s.id < l.segs[0].id || s == l.active {
		return
	}
	end, size := s.end.Load(), s.fileSize.Load()
	if size <= end {
		return
	}
	if err := s.f.Truncate(end); err != nil {
		// Only space is lost; the segment reads the same.
		l.log.Warn("releasing preallocated space failed", "segment", s.id, "err", err)
		return
	}
	s.fileSize.Store(end)
	l.size.Add(end - size)
}
