// Package msgchars checks the text of queue messages against the
// characters Amazon SQS accepts in message bodies and string attribute
// values: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to
// #x10FFFF, in valid UTF-8. Both APIs refuse other text rather than store
// it altered (encoding/json would turn invalid UTF-8 into U+FFFD, and the
// MD5 a sender is told would then be of a body it did not send), and the
// queue engine checks again what reaches it.
package msgchars
