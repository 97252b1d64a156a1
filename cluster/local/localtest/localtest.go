// Package localtest starts a local platform for Go tests that need the real
// control plane and Crossplane core. Without the binaries built by `make
// tools build` the tests skip, or fail when CI=true so CI never passes by
// testing nothing.
package localtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/quorumdb/quorum/cluster/local"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Main runs a test package's tests against a platform started for it and
// removed afterwards. Use it from TestMain.
func Main(m *testing.M, p **local.Platform) {
	os.Exit(run(m, p))
}

// Binaries checks that the named binaries are built in bin/. It returns 0
// when they are; -1 when the tests should be skipped (a developer machine);
// 1 when they must fail (CI=true).
func Binaries(names ...string) int {
	for _, b := range names {
		if _, err := os.Stat(filepath.Join(Root(), "bin", b)); err != nil {
			msg := fmt.Sprintf("bin/%s missing: run `make tools build` first", b)
			if os.Getenv("CI") == "true" {
				fmt.Fprintln(os.Stderr, "FAIL: "+msg)
				return 1
			}
			fmt.Fprintln(os.Stderr, "SKIP: "+msg)
			return -1
		}
	}
	return 0
}

// Bin is the path of a built binary.
func Bin(name string) string { return filepath.Join(Root(), "bin", name) }

func run(m *testing.M, out **local.Platform) int {
	root := Root()
	bin := filepath.Join(root, "bin")
	switch Binaries("kube-apiserver", "kube-controller-manager", "crossplane-core", "crossplane", "provider", "function", "quorum-vcsim", "quorum-local") {
	case 1:
		return 1
	case -1:
		return 0
	}
	state, err := os.MkdirTemp("", "quorum-test-platform-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p := &local.Platform{StateDir: state, BinDir: bin, PackageDir: filepath.Join(root, "package"), CompositionDir: filepath.Join(root, "compositions"), Out: io.Discard}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := p.Up(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the local platform:", err)
		_ = p.Down()
		return 1
	}
	defer p.Down() //nolint:errcheck // Best effort; state is in a temp dir.
	*out = p
	return m.Run()
}
