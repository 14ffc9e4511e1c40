package wal_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/docketd/docket/internal/wal"
)

// The life of a log: open, rebuild state from what is there, append, read.
func Example() {
	tmp, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	opts := wal.Options{Dir: filepath.Join(tmp, "wal"), SegmentSize: 1 << 20}

	l, err := wal.Open(opts)
	if err != nil {
		log.Fatal(err)
	}
	pos, err := l.Append([]byte("send m1"), []byte("send m2"))
	if err != nil {
		log.Fatal(err)
	}
	// Enqueue fixes the order under the caller's own lock; Wait outside it.
	c, _ := l.Enqueue([]byte("delete m1"))
	if err := c.Wait(); err != nil {
		log.Fatal(err)
	}
	rec, err := l.Read(pos[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read %q\n", rec)
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}

	l, err = wal.Open(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	err = l.Replay(func(p wal.Pos, rec []byte) error {
		fmt.Printf("%v %s\n", p, rec)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// read "send m2"
	// 1:16 send m1
	// 1:31 send m2
	// 1:46 delete m1
}
