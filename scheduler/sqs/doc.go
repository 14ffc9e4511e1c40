// Package sqs serves Docket's queue engine ([queue.Engine]) over the
// Amazon SQS JSON protocol, so that AWS SDKs and the AWS CLI work against a
// Docket server unchanged: a client sets its endpoint to the server and
// sends POST / with X-Amz-Target: AmazonSQS.<Action>.
//
// # What it owns
//
//   - decoding the JSON protocol (application/x-amz-json-1.0) and encoding
//     its answers, including SQS's MD5 digests of bodies and message
//     attributes, which SDKs verify;
//   - verifying AWS Signature Version 4 against a [KeyStore] of access keys,
//     each optionally limited to some queues;
//   - mapping the engine's error classes ([errdefs]) onto SQS's error codes,
//     with errors.Is and error codes, never by matching messages.
//
// Queue URLs are http://HOST/ACCOUNT/NAME, where HOST is the Host header of
// the request, so a client configured with the server's address gets URLs
// that lead back to it.
//
// Standard queues only: FIFO queues, tags, permissions and message move
// tasks are not implemented yet and answer UnsupportedOperation.
package sqs
