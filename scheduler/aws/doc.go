// Package aws holds what Docket's AWS-compatible endpoints share, so that
// each AWS API (SQS today; SNS and the Lambda Invoke API next) is a thin
// codec around the control layer and none of them re-implements the
// protocol around it.
//
// # What it owns
//
//   - verifying AWS Signature Version 4 in the Authorization header
//     ([Verifier]), for whichever service a [VerifierConfig] names, and
//     signing requests the same way ([Signer]) for Docket's own clients;
//   - the access keys requests are signed with: [Key], optionally limited
//     to some queues, the [KeyStore] the verifier looks them up in, and
//     [LoadKeyFile] for the operator's keys file;
//   - AWS errors ([Error], made from a [Kind]) and how each protocol
//     reports them: the JSON protocol's __type document and
//     x-amzn-query-error header ([JSONProtocol]), the query protocol's XML
//     ErrorResponse ([QueryProtocol]), with request ids ([NewRequestID]);
//   - the wire helpers both protocols need: reading a body within a limit
//     ([ReadBody]), decoding JSON as AWS services do ([DecodeJSON]), and
//     the query protocol's forms, decoded into and encoded from request
//     and response shapes by their query struct tags ([QueryDecoder],
//     [QueryProtocol.WriteResult]).
//
// What one API alone knows stays in its package: its actions, its
// resources' URLs and ARNs, its error codes and its fast paths.
package aws
