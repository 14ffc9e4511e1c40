// Package sqs serves Docket's queue engine ([queue.Engine]) over the
// Amazon SQS APIs, so that AWS SDKs and the AWS CLI work against a Docket
// server unchanged. It speaks both of SQS's protocols:
//
//   - the JSON protocol of current SDKs: POST / with X-Amz-Target:
//     AmazonSQS.<Action> and an application/x-amz-json-1.0 body;
//   - the older query protocol of AWS CLI v1 and older boto3: a form POST
//     of Action=<Action>&Version=2012-11-05 and flattened parameters to /
//     or to a queue's URL, answered in XML (query.go).
//
// Each action has one implementation, which takes and returns the shapes
// of wire.go; each protocol is a codec around them.
//
// # What it owns
//
//   - SQS's actions, its request and response shapes (wire.go) and the
//     fast decoders and encoders of the hot ones (fastjson.go), and SQS's
//     MD5 digests of bodies and message attributes, which SDKs verify;
//   - authenticating requests with an [aws.Verifier] for the service
//     "sqs", against an [aws.KeyStore] of access keys, each optionally
//     limited to some queues, which this package enforces;
//   - mapping the engine's error classes ([errdefs]) onto SQS's error codes,
//     with errors.Is and error codes, never by matching messages.
//
// What every AWS protocol shares (SigV4, access keys, error shapes,
// request ids, the query protocol's forms and XML) is package aws's.
//
// Queue URLs are http://HOST/ACCOUNT/NAME, where HOST is the Host header of
// the request, so a client configured with the server's address gets URLs
// that lead back to it.
//
// Message move tasks run to completion inside StartMessageMoveTask, on
// [queue.Engine.Redrive]; the handler remembers the last few per queue
// for ListMessageMoveTasks until it restarts.
//
// Standard queues only: FIFO queues, tags (the engine cannot store them
// yet), permissions, move tasks to a DestinationArn and presigned
// (query-string) signatures are not implemented and answer
// UnsupportedOperation, or MissingAuthenticationToken.
package sqs
