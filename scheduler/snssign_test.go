package scheduler

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The signing key is made once and kept: a restart signs with the same
// key, and a damaged key file is an error, not a new key.
func TestSignerKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	a, err := loadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.certPEM, b.certPEM) || !a.key.Equal(b.key) {
		t.Fatal("a second start made another signing key")
	}
	if fi, _ := os.Stat(filepath.Join(dir, signingKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("the key file's mode is %v", fi.Mode())
	}
	os.WriteFile(filepath.Join(dir, signingKeyFile), []byte("garbage"), 0o600)
	if _, err := loadSigner(dir); err == nil {
		t.Error("a damaged signing key was taken")
	}
	os.Remove(filepath.Join(dir, signingCertFile))
	if _, err := loadSigner(dir); err == nil {
		t.Error("a key without its certificate was taken")
	}
}
