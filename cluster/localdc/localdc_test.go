package localdc

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/quorumdb/quorum/internal/guestkeys"
	"github.com/quorumdb/quorum/internal/sshexec"
)

// TestIsolatedGuests: two guests are two machines on disk. Each sees its
// own data disk at its platform's path and at its size (grown while it
// runs), its own /var/lib and /etc, and nothing of the other or of the
// datacenter's directory; the provider logs in over SSH as before; removing
// a guest frees its loop devices.
func TestIsolatedGuests(t *testing.T) {
	if err := Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local datacenter unavailable: %v", err)
		}
		t.Skipf("local datacenter unavailable: %v", err)
	}
	ctx := context.Background()
	// Outside the directories guests own, so that hiding it is what
	// keeps it out of their view.
	dir, err := os.MkdirTemp("/var/cache", "quorum-localdc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	dc := &DC{Prefix: "qi", Gateway: netip.MustParsePrefix("10.76.0.1/24"), Dir: dir, Isolated: true}
	if err := dc.Up(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dc.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	type guest struct {
		g    Guest
		keys guestkeys.Keys
	}
	guests := map[string]*guest{}
	for i, name := range []string{"a", "b"} {
		k, err := guestkeys.Generate()
		if err != nil {
			t.Fatal(err)
		}
		g := Guest{Name: name, Address: netip.AddrFrom4([4]byte{10, 76, 0, byte(10 + i)}), HostKey: k.HostPrivate, AuthorizedKey: k.LoginPublic,
			Disks: []Disk{{Path: "/dev/disk/by-id/wwn-0x" + name, SizeGiB: 1}}}
		if err := dc.Add(ctx, g); err != nil {
			t.Fatal(err)
		}
		guests[name] = &guest{g, k}
	}
	// in runs a command in a guest as its sshd's sessions run it.
	in := func(name, cmd string) string {
		t.Helper()
		g := guests[name]
		c, err := sshexec.Dial(ctx, sshexec.Target{Host: g.g.Address.String(), PrivateKey: g.keys.LoginPrivate, HostKey: g.keys.HostPublic})
		if err != nil {
			t.Fatalf("ssh to %s: %v", name, err)
		}
		defer c.Close() //nolint:errcheck // Test.
		st, err := c.Run(ctx, "check", cmd)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, cmd, err)
		}
		return strings.TrimSpace(st.Stdout)
	}
	if got := in("a", "blockdev --getsize64 /dev/disk/by-id/wwn-0xa"); got != "1073741824" {
		t.Errorf("guest a's disk is %s bytes, want 1 GiB", got)
	}
	if got := in("a", "ls /dev/disk/by-id"); got != "wwn-0xa" {
		t.Errorf("guest a sees disks %q, want only its own", got)
	}
	in("a", "mkdir -p /var/lib/quorum/x && echo a > /var/lib/quorum/x/PG_VERSION && echo 'a only' > /etc/quorum-test")
	if got := in("b", "ls -A /var/lib/quorum 2>/dev/null; cat /etc/quorum-test 2>/dev/null; true"); got != "" {
		t.Errorf("guest b sees guest a's files: %q", got)
	}
	if _, err := os.Stat("/etc/quorum-test"); err == nil {
		t.Error("a guest's /etc change reached the host")
	}
	if got := in("b", "ls -A "+dir+"; ls -A /var/cache | grep -c quorum-localdc-"); got != "1" {
		t.Errorf("guest b sees the datacenter's directory: %q", got)
	}
	// The disk grows under the running guest.
	g := guests["a"].g
	g.Disks[0].SizeGiB = 2
	if err := dc.SyncDisks(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got := in("a", "blockdev --getsize64 /dev/disk/by-id/wwn-0xa"); got != "2147483648" {
		t.Errorf("guest a's grown disk is %s bytes, want 2 GiB", got)
	}
	file := dc.diskFile("a", g.Disks[0].Path)
	if err := dc.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("losetup", "--associated", file).Output(); len(out) > 0 {
		t.Errorf("guest a removed, its disk still attached: %s", out)
	}
}
