// Command batch is the example batch task: it builds a small report —
// the sum of squares of its rows — prints it, and exits 0.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "report" {
		fmt.Fprintln(os.Stderr, "usage: batch report [--rows N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	rows := fs.Int("rows", 1000, "rows to sum")
	fs.Parse(os.Args[2:])
	var sum int64
	for i := int64(1); i <= int64(*rows); i++ {
		sum += i * i
	}
	fmt.Printf("report %s[%s]: %d rows, sum of squares %d\n", os.Getenv("DOCKET_JOB"), os.Getenv("DOCKET_ALLOC_INDEX"), *rows, sum)
}
