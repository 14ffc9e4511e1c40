// Command hello is the example dispatch worker: Docket runs it once per
// message, with the message's body at $DOCKET_MESSAGE_FILE. It greets the
// body and exits 0, which deletes the message; a body of "fail" makes it
// exit 1, to show retries and the dead-letter queue.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "greet" {
		fmt.Fprintln(os.Stderr, "usage: hello greet [--greeting WORD]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("greet", flag.ExitOnError)
	greeting := fs.String("greeting", "hello", "the word to greet with")
	fs.Parse(os.Args[2:])
	body, err := os.ReadFile(os.Getenv("DOCKET_MESSAGE_FILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "read message:", err)
		os.Exit(1)
	}
	msg := strings.TrimSpace(string(body))
	if msg == "fail" {
		fmt.Fprintf(os.Stderr, "failing on purpose (receive %s)\n", os.Getenv("DOCKET_RECEIVE_COUNT"))
		os.Exit(1)
	}
	fmt.Printf("%s, %s! (message %s from queue %s, receive %s)\n",
		*greeting, msg, os.Getenv("DOCKET_MESSAGE_ID"), os.Getenv("DOCKET_QUEUE"), os.Getenv("DOCKET_RECEIVE_COUNT"))
}
