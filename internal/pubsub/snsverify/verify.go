// Package snsverify checks an SNS message's signature as a subscriber
// does: the certificate at its SigningCertURL, over the fields SNS signs
// for its Type, with SHA1withRSA (SignatureVersion 1) or SHA256withRSA
// (2). The tests of the server's notifications use it to see them as an
// SNS subscriber would.
package snsverify

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Message is an SNS message as an endpoint or a queue receives it: a
// Notification, SubscriptionConfirmation or UnsubscribeConfirmation.
type Message struct {
	Type, MessageId, Token, TopicArn, Subject, Message, SubscribeURL, Timestamp string
	SignatureVersion, Signature, SigningCertURL, UnsubscribeURL                 string
	MessageAttributes                                                           map[string]struct{ Type, Value string }
}

// Parse decodes a message.
func Parse(b []byte) (Message, error) {
	var m Message
	err := json.Unmarshal(b, &m)
	return m, err
}

// StringToSign is what SNS signs of m.
func (m Message) StringToSign() string {
	var fields []string
	if m.Type == "Notification" {
		fields = []string{"Message", m.Message, "MessageId", m.MessageId}
		if m.Subject != "" {
			fields = append(fields, "Subject", m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicArn, "Type", m.Type)
	} else {
		fields = []string{"Message", m.Message, "MessageId", m.MessageId, "SubscribeURL", m.SubscribeURL,
			"Timestamp", m.Timestamp, "Token", m.Token, "TopicArn", m.TopicArn, "Type", m.Type}
	}
	return strings.Join(fields, "\n") + "\n"
}

// Verify checks m's signature with the PEM certificate certPEM (what its
// SigningCertURL serves).
func (m Message) Verify(certPEM []byte) error {
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return errors.New("snsverify: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("snsverify: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("snsverify: the certificate's key is not RSA")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("snsverify: Signature: %w", err)
	}
	s := m.StringToSign()
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum([]byte(s))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(s))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	}
	return fmt.Errorf("snsverify: SignatureVersion %q", m.SignatureVersion)
}
