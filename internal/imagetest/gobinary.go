package imagetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// buildFlags are the go build flags every binary gets: no paths of this
// machine inside it, no symbol table, no VCS stamp. They make the output
// depend only on its sources, and smaller, which makes images faster to pack.
func buildFlags() []string {
	return []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w"}
}

// cacheMaxAge is how long a cached binary may go unused before a later build
// deletes it.
const cacheMaxAge = 7 * 24 * time.Hour

// GoBinary compiles the main package pkgPath, statically (CGO_ENABLED=0),
// and returns the path of the binary. pkgPath is anything `go build`
// accepts: a directory relative to the test's working directory, such as
// "./testdata/worker", or an import path such as [TestProgPackage].
//
// The binary lives in a cache shared by all tests and test runs, keyed by
// the content of everything that goes into it; callers must not modify or
// delete it. A test that needs a private copy should copy it.
func GoBinary(t testing.TB, pkgPath string) string {
	t.Helper()
	start := time.Now()
	bin, built, err := goBinary(pkgPath)
	if err != nil {
		t.Fatalf("imagetest: build %s: %v", pkgPath, err)
	}
	if built {
		t.Logf("imagetest: built %s in %v", pkgPath, time.Since(start).Round(time.Millisecond))
	}
	return bin
}

// goBinary returns the cached binary for pkgPath, building it when the cache
// does not hold one for the current sources; built says whether it did.
func goBinary(pkgPath string) (bin string, built bool, err error) {
	env := append(os.Environ(), "CGO_ENABLED=0")
	key, name, err := cacheKey(env, "", pkgPath)
	if err != nil {
		return "", false, err
	}
	root, err := cacheRoot()
	if err != nil {
		return "", false, err
	}
	dir := filepath.Join(root, key)
	bin = filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // mark it used, for pruning
		return bin, false, nil
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	// Build next to the final name and rename: two processes building the
	// same key at once both succeed, and nobody sees a partial binary.
	tmp, err := os.MkdirTemp(dir, ".build")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(tmp)
	args := append([]string{"build", "-o", filepath.Join(tmp, name)}, buildFlags()...)
	if _, err := goCmd(env, "", append(args, pkgPath)...); err != nil {
		return "", false, err
	}
	if err := os.Rename(filepath.Join(tmp, name), bin); err != nil {
		return "", false, err
	}
	pruneCache(root, key)
	return bin, true, nil
}

// cacheRoot returns the directory holding cached binaries, one per user so
// that a non-root test run does not trip over root's files. Since it lives in
// a shared directory, it must be a real directory owned by the user and
// writable by nobody else: otherwise anyone could plant binaries in it.
func cacheRoot() (string, error) {
	root := filepath.Join(os.TempDir(), "docket-imagetest-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	info, err := os.Lstat(root)
	if err != nil {
		return "", err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || !ok || int(st.Uid) != os.Getuid() || info.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("binary cache %s is not a directory of this user's that only it can write", root)
	}
	return root, nil
}

// listedPackage is the part of `go list -json` output the cache key needs.
type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Standard   bool
	EmbedFiles []string
	Module     *struct {
		Path    string
		Version string
		Main    bool
		Replace *struct {
			Path    string
			Version string
		}
	}
}

// cacheKey hashes what determines the binary built from pkgPath: the
// toolchain and target, the build flags, the versions of the modules it
// uses, and the files of every package that is not in the module cache
// (this module's, and local replacements). Standard packages are covered by
// the toolchain version. pkgPath is resolved in dir (empty: the current
// directory). It also returns the binary's name.
func cacheKey(env []string, dir, pkgPath string) (key, name string, err error) {
	h := sha256.New()
	goEnv, err := goCmd(env, dir, "env", "GOVERSION", "GOOS", "GOARCH", "GOARM", "GOAMD64", "GOFLAGS", "GOEXPERIMENT")
	if err != nil {
		return "", "", err
	}
	fmt.Fprintf(h, "env %q\nflags %q\n", goEnv, buildFlags())

	out, err := goCmd(env, dir, "list", "-deps",
		"-json=ImportPath,Name,Dir,Standard,EmbedFiles,Module", "--", pkgPath)
	if err != nil {
		return "", "", err
	}
	var last listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", "", fmt.Errorf("go list output: %w", err)
		}
		last = p
		if p.Standard {
			continue
		}
		if m := p.Module; m != nil && !m.Main {
			if r := m.Replace; r == nil {
				fmt.Fprintf(h, "module %s@%s\n", m.Path, m.Version)
				continue
			} else if r.Version != "" {
				fmt.Fprintf(h, "module %s@%s => %s@%s\n", m.Path, m.Version, r.Path, r.Version)
				continue
			}
		}
		if err := hashPackageFiles(h, p); err != nil {
			return "", "", err
		}
	}
	// go list -deps prints the named package last, after its dependencies.
	if last.Name != "main" {
		return "", "", fmt.Errorf("%s is package %s, not a main package", pkgPath, last.Name)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], path.Base(last.ImportPath), nil
}

// hashPackageFiles adds the name and content of every file directly in the
// package's directory (which includes files a build tag leaves out: harmless,
// at worst a needless rebuild) and of its embedded files.
func hashPackageFiles(h io.Writer, p listedPackage) error {
	fmt.Fprintf(h, "package %s\n", p.ImportPath)
	entries, err := os.ReadDir(p.Dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	names = append(names, p.EmbedFiles...)
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		data, err := os.ReadFile(filepath.Join(p.Dir, filepath.FromSlash(n)))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "file %s %x\n", n, sum)
	}
	return nil
}

// pruneCache deletes cached binaries unused for cacheMaxAge, except keep.
// It is best effort: another process may be pruning too.
func pruneCache(root, keep string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == keep {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < cacheMaxAge {
			continue
		}
		_ = os.RemoveAll(filepath.Join(root, e.Name()))
	}
}

// goCmd runs the go command in dir (empty: the current directory) and
// returns its standard output; on failure the error carries its standard
// error.
func goCmd(env []string, dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = env
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return nil, fmt.Errorf("go %s: %w\n%s", args[0], err, stderr.Bytes())
		}
		return nil, fmt.Errorf("go %s: %w", args[0], err)
	}
	return out, nil
}
