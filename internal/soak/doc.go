// Package soak is the crash soak of the queue: it drives a Docket server
// that runs as a child process with concurrent senders, receivers and a
// dead-letter drainer, stops it again and again with SIGKILL and SIGTERM,
// fills its disk once, and checks after every restart and in a final drain
// that nothing the server acknowledged was lost, resurrected, handed out
// twice or changed.
//
// What the clients were told is kept in a ledger; the server is started
// and stopped through a [Controller] ([Exec] runs a real child process).
// [Run] ties them together and returns a [Report]. The scheduler's crash
// test and `docket bench crash` both use it, with the test binary and the
// docket binary as the child.
//
// The ledger only counts what the protocol promises. A send or delete whose
// answer never arrived (the server died, the disk was full) may or may not
// have happened; a message that was in flight when the server died comes
// back once its visibility timeout has passed, with a larger receive count.
// After each restart the server must hold at least the messages whose
// sends were acknowledged and whose deletes were never attempted. Everything
// else is a finding:
//
//   - lost: a send was acknowledged, no delete of the message was
//     acknowledged or left unanswered, and the final drain did not find it;
//   - resurrected: a message was handed out by a receive that began after
//     a delete of it had been acknowledged;
//   - duplicate: a message was handed out twice with the same receive
//     count, or by a receive begun after one with a higher count was
//     answered (the count did not grow: the server forgot a receive it
//     had answered);
//   - wrong body: a body that does not match the one sent for its key, or
//     an id acknowledged for one message that carries another.
//
// Locks: the driver's mu is taken before the ledger's and the controller's;
// the ledger's before the findings' (it records findings while it checks).
// No lock is held during a call to the server.
package soak
