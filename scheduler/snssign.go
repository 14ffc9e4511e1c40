package scheduler

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docketd/docket/internal/atomicfile"
)

// SNS signs every notification it delivers in its JSON envelope, with a
// key whose certificate it serves at SigningCertURL, so that subscribers
// can check a message came from it. The server does the same with a key
// of its own, made at its first start and kept in its data directory.

// SigningCertPath is where on the server's address the certificate of
// its notification signing key is served.
const SigningCertPath = "/SimpleNotificationService-docket.pem"

const (
	signingKeyFile  = "sns-signing-key.pem"
	signingCertFile = "sns-signing-cert.pem"
)

// notificationSigner signs SNS notifications.
type notificationSigner struct {
	key     *rsa.PrivateKey
	certPEM []byte
}

// loadSigner reads the signing key and certificate in dir, making them
// the first time.
func loadSigner(dir string) (*notificationSigner, error) {
	keyPath, certPath := filepath.Join(dir, signingKeyFile), filepath.Join(dir, signingCertFile)
	keyPEM, kerr := os.ReadFile(keyPath)
	certPEM, cerr := os.ReadFile(certPath)
	if errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist) {
		return makeSigner(keyPath, certPath)
	}
	if err := errors.Join(kerr, cerr); err != nil {
		return nil, fmt.Errorf("notification signing key: %w", err)
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return nil, fmt.Errorf("notification signing key %s: not PEM", keyPath)
	}
	key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("notification signing key %s: %w", keyPath, err)
	}
	return &notificationSigner{key: key, certPEM: certPEM}, nil
}

func makeSigner(keyPath, certPath string) (*notificationSigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "sns.docket", Organization: []string{"Docket"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(20 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     []string{"sns.docket"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	// The certificate first: a key without it is made again, never the
	// other way round.
	if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	return &notificationSigner{key: key, certPEM: certPEM}, nil
}

// stringToSign is what SNS signs of a notification: these fields, in this
// order, each as its name and its value on lines of their own.
func stringToSign(message, messageID, subject, timestamp, topicARN string) string {
	return signedFields([][2]string{{"Message", message}, {"MessageId", messageID}, {"Subject", subject},
		{"Timestamp", timestamp}, {"TopicArn", topicARN}, {"Type", "Notification"}})
}

// confirmationStringToSign is what SNS signs of a SubscriptionConfirmation
// (or UnsubscribeConfirmation, typ).
func confirmationStringToSign(typ, message, messageID, subscribeURL, timestamp, token, topicARN string) string {
	return signedFields([][2]string{{"Message", message}, {"MessageId", messageID}, {"SubscribeURL", subscribeURL},
		{"Timestamp", timestamp}, {"Token", token}, {"TopicArn", topicARN}, {"Type", typ}})
}

// signedFields writes each field as its name and value on lines of their
// own, leaving out an empty Subject.
func signedFields(fields [][2]string) string {
	var b strings.Builder
	for _, kv := range fields {
		if kv[0] == "Subject" && kv[1] == "" {
			continue
		}
		b.WriteString(kv[0])
		b.WriteByte('\n')
		b.WriteString(kv[1])
		b.WriteByte('\n')
	}
	return b.String()
}

// sign returns the base64 signature of s: SignatureVersion "1" is
// SHA1withRSA, as SNS's default, "2" SHA256withRSA.
func (n *notificationSigner) sign(version, s string) (string, error) {
	var sum []byte
	hash := crypto.SHA1
	if version == "2" {
		h := sha256.Sum256([]byte(s))
		sum, hash = h[:], crypto.SHA256
	} else {
		h := sha1.Sum([]byte(s))
		sum = h[:]
	}
	sig, err := rsa.SignPKCS1v15(nil, n.key, hash, sum)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// SigningCert is the PEM certificate of the key notifications are signed
// with, served at SigningCertPath.
func (s *Server) SigningCert() []byte { return s.signer.certPEM }
