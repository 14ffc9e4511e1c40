package scheduler

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docketd/docket/internal/atomicfile"
)

// loadSecret reads the server's secret from its data directory, creating
// it once. It signs the tokens queue workers identify themselves with.
func loadSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return b, nil
}

// queueToken is the token a worker allocation presents on the queue API
// (DOCKET_TOKEN): its allocation ID, signed, so the server knows which
// allocation holds which messages and can stop idle workers first.
func (s *Server) queueToken(allocID string) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(allocID))
	return allocID + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// tokenOwner returns the allocation a token names, if its signature holds.
func (s *Server) tokenOwner(token string) (string, bool) {
	id, _, ok := strings.Cut(token, ".")
	if !ok || id == "" {
		return "", false
	}
	return id, hmac.Equal([]byte(token), []byte(s.queueToken(id)))
}
