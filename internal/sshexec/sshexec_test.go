package sshexec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/cluster/localdc"
	"github.com/quorumdb/quorum/internal/guestkeys"
)

// guest starts one real sshd in its own network namespace.
func guest(t *testing.T) (Target, guestkeys.Keys) {
	t.Helper()
	if err := localdc.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local datacenter unavailable: %v", err)
		}
		t.Skipf("local datacenter unavailable: %v", err)
	}
	ctx := context.Background()
	dc := &localdc.DC{Prefix: "qs", Gateway: netip.MustParsePrefix("10.78.0.1/24"), Dir: t.TempDir(), Isolated: true}
	if err := dc.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dc.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	k, err := guestkeys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("10.78.0.10")
	if err := dc.Add(ctx, localdc.Guest{Name: "ssh1", Address: addr, HostKey: k.HostPrivate, AuthorizedKey: k.LoginPublic}); err != nil {
		t.Fatal(err)
	}
	return Target{Host: addr.String(), PrivateKey: k.LoginPrivate, HostKey: k.HostPublic}, k
}

func TestRun(t *testing.T) {
	target, _ := guest(t)
	ctx := context.Background()
	c, err := Dial(ctx, target, "s3cret-pw")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close() //nolint:errcheck // Test.

	st, err := c.Run(ctx, "streams", "echo out; echo err >&2; ip -4 -o addr show eth0 | grep -c 10.78.0.10")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"out\n1\n", "err\n"}, []string{st.Stdout, st.Stderr}); diff != "" {
		t.Errorf("stdout and stderr kept apart, inside the guest's namespace: -want, +got:\n%s", diff)
	}

	_, err = c.Run(ctx, "failing step", "echo 'password s3cret-pw rejected' >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "failing step failed on 10.78.0.10:22 with exit code 3") {
		t.Errorf("want a failure naming the step and exit code, got %v", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error leaks a secret: %v", err)
	}
	for _, s := range c.Steps() {
		if strings.Contains(fmt.Sprint(s), "s3cret-pw") {
			t.Errorf("recorded step leaks a secret: %+v", s)
		}
	}
}

func TestWriteFileIdempotent(t *testing.T) {
	target, _ := guest(t)
	ctx := context.Background()
	c, err := Dial(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() //nolint:errcheck // Test.
	path := t.TempDir() + "/conf/it's here.conf"
	for i, want := range []bool{true, false} {
		changed, err := c.WriteFile(ctx, path, []byte("a = 1\n"), 0o640, "")
		if err != nil {
			t.Fatal(err)
		}
		if changed != want {
			t.Errorf("write %d: changed = %v, want %v", i, changed, want)
		}
	}
	if changed, _ := c.WriteFile(ctx, path, []byte("a = 2\n"), 0o640, ""); !changed {
		t.Error("new content not written")
	}
	// Read back on the guest: it is a machine of its own.
	st, err := c.Run(ctx, "read back", "cat "+Quote(path)+"; stat -c %a "+Quote(path))
	if err != nil || st.Stdout != "a = 2\n640\n" {
		t.Errorf("file and mode on the guest: %q %v", st.Stdout, err)
	}
}

func TestHostKeyPinned(t *testing.T) {
	target, _ := guest(t)
	other, _ := guestkeys.Generate()
	target.HostKey = other.HostPublic
	_, err := Dial(context.Background(), target)
	if !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("want ErrHostKeyMismatch, got %v", err)
	}
	target.HostKey = ""
	if _, err := Dial(context.Background(), target); err == nil || !strings.Contains(err.Error(), "no pinned host key") {
		t.Errorf("want refusal without a pinned key, got %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	k, _ := guestkeys.Generate()
	_, err := Dial(context.Background(), Target{Host: "127.0.0.1", Port: 1, PrivateKey: k.LoginPrivate, HostKey: k.HostPublic, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot reach 127.0.0.1:1") {
		t.Errorf("want a clear unreachable error, got %v", err)
	}
}
