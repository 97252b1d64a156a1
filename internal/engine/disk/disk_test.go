package disk

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loopDisk is a sparse file of size MiB on a loop device.
type loopDisk struct {
	t    *testing.T
	file string
	dev  string
}

func newLoopDisk(t *testing.T, mib int64) *loopDisk {
	t.Helper()
	file := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, mib<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	d := &loopDisk{t: t, file: file, dev: strings.TrimSpace(string(out))}
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", d.dev).Run() })
	return d
}

func (d *loopDisk) grow(mib int64) {
	if err := os.Truncate(d.file, mib<<20); err != nil {
		d.t.Fatal(err)
	}
	if out, err := exec.Command("losetup", "--set-capacity", d.dev).CombinedOutput(); err != nil {
		d.t.Fatalf("losetup --set-capacity: %v: %s", err, out)
	}
}

// prepare runs the script as a role does, in a mount namespace of its own
// with a scratch /etc/fstab (nothing of the host's is touched), and
// returns what it printed, what it said on failure and the fstab after.
func prepare(t *testing.T, dev, mnt, fstab string) (string, string, string, int) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "prepare.sh")
	if err := os.WriteFile(script, []byte(Script(dev, mnt)), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind "$1" /etc/fstab && exec sh "$2"`, "_", fstab, script)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(fstab)
	return strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()), string(b), code
}

func need(t *testing.T) {
	t.Helper()
	missing := os.Geteuid() != 0
	for _, b := range []string{"losetup", "unshare", "mkfs.xfs", "xfs_growfs", "mkfs.ext4", "blkid", "wipefs", "findmnt"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = true
		}
	}
	if !missing {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("root, util-linux, xfsprogs and e2fsprogs are required under CI")
	}
	t.Skip("needs root, util-linux, xfsprogs and e2fsprogs")
}

// TestPrepare formats a new disk once, mounts it by UUID, records it in
// fstab, finds it again without formatting, and grows it online.
func TestPrepare(t *testing.T) {
	need(t)
	d := newLoopDisk(t, 320)
	mnt := t.TempDir()
	fstab := filepath.Join(t.TempDir(), "fstab")
	if err := os.WriteFile(fstab, []byte("# host entries\n/dev/vda / ext4 defaults 0 1\n"), 0o644); err != nil { //nolint:gosec // Test.
		t.Fatal(err)
	}
	out, stderr, tab, code := prepare(t, d.dev, mnt, fstab)
	if code != 0 {
		t.Fatalf("first prepare failed (%d): %s", code, stderr)
	}
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != d.dev {
		t.Fatalf("output %q, want device, UUID and size", out)
	}
	uuid := f[1]
	want := "# host entries\n/dev/vda / ext4 defaults 0 1\nUUID=" + uuid + " " + mnt + " xfs defaults,noatime,nofail 0 0\n"
	if diff := cmp.Diff(want, tab); diff != "" {
		t.Errorf("fstab (-want, +got):\n%s", diff)
	}
	// Again (a reboot: not mounted, fstab already right): same filesystem.
	out, stderr, tab2, code := prepare(t, d.dev, mnt, fstab)
	if code != 0 || strings.Fields(out)[1] != uuid || tab2 != tab {
		t.Fatalf("second prepare: code %d, output %q (first UUID %s), fstab changed: %v: %s", code, out, uuid, tab2 != tab, stderr)
	}
	// The disk grows: the filesystem follows.
	before, _ := strconv.ParseInt(strings.Fields(out)[2], 10, 64)
	d.grow(640)
	out, stderr, _, code = prepare(t, d.dev, mnt, fstab)
	if code != 0 {
		t.Fatalf("prepare after growth: %s", stderr)
	}
	after, _ := strconv.ParseInt(strings.Fields(out)[2], 10, 64)
	if after < 600<<20 || after <= before || strings.Fields(out)[1] != uuid {
		t.Errorf("filesystem %d bytes before, %d after growing the disk to 640 MiB (UUID %s, was %s)", before, after, strings.Fields(out)[1], uuid)
	}
}

// TestRefuses never formats a disk that holds something, or mounts over
// files on the OS disk.
func TestRefuses(t *testing.T) {
	need(t)
	cases := map[string]struct {
		setup func(t *testing.T, d *loopDisk, mnt string)
		want  string
	}{
		"SomeoneElsesFilesystem": {
			setup: func(t *testing.T, d *loopDisk, _ string) {
				if out, err := exec.Command("mkfs.xfs", "-q", "-L", "payroll", d.dev).CombinedOutput(); err != nil {
					t.Fatalf("mkfs: %v: %s", err, out)
				}
			},
			want: "labelled 'payroll'",
		},
		"AnotherFilesystem": {
			setup: func(t *testing.T, d *loopDisk, _ string) {
				if out, err := exec.Command("mkfs.ext4", "-q", d.dev).CombinedOutput(); err != nil {
					t.Fatalf("mkfs: %v: %s", err, out)
				}
			},
			want: "holds a ext4 filesystem",
		},
		"DataWithoutFilesystem": {
			setup: func(t *testing.T, d *loopDisk, _ string) {
				f, err := os.OpenFile(d.dev, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close() //nolint:errcheck // Test.
				if _, err := f.WriteAt([]byte("customer data written by hand"), 8192); err != nil {
					t.Fatal(err)
				}
			},
			want: "holds data but no filesystem",
		},
		"FilesUnderTheMountPoint": {
			setup: func(t *testing.T, _ *loopDisk, mnt string) {
				if err := os.WriteFile(filepath.Join(mnt, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: "is not empty",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := newLoopDisk(t, 320)
			mnt := t.TempDir()
			tc.setup(t, d, mnt)
			sig, _ := exec.Command("blkid", "-p", "-o", "value", "-s", "UUID", d.dev).Output()
			fstab := filepath.Join(t.TempDir(), "fstab")
			_ = os.WriteFile(fstab, nil, 0o644) //nolint:gosec // Test.
			_, stderr, tab, code := prepare(t, d.dev, mnt, fstab)
			if code != ExitRefused || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, %q; want exit %d and %q", code, stderr, ExitRefused, tc.want)
			}
			after, _ := exec.Command("blkid", "-p", "-o", "value", "-s", "UUID", d.dev).Output()
			if string(after) != string(sig) || tab != "" {
				t.Errorf("refused, yet the disk's filesystem changed (%q -> %q) or fstab was written (%q)", sig, after, tab)
			}
		})
	}
	t.Run("Missing", func(t *testing.T) {
		fstab := filepath.Join(t.TempDir(), "fstab")
		_ = os.WriteFile(fstab, nil, 0o644) //nolint:gosec // Test.
		_, stderr, _, code := prepare(t, "/dev/disk/by-id/wwn-0xnothere", t.TempDir(), fstab)
		if code != ExitRefused || !strings.Contains(stderr, "not found on this host") {
			t.Errorf("exit %d, %q", code, stderr)
		}
	})
}

// TestCheck: the drift check tells an unmounted disk, a mounted one, and
// one that grew under its filesystem apart.
func TestCheck(t *testing.T) {
	need(t)
	d := newLoopDisk(t, 320)
	mnt := t.TempDir()
	fstab := filepath.Join(t.TempDir(), "fstab")
	_ = os.WriteFile(fstab, nil, 0o644) //nolint:gosec // Test.
	dir := t.TempDir()
	for name, body := range map[string]string{"prepare.sh": Script(d.dev, mnt), "check.sh": Check(d.dev, mnt)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	session := func(steps string) []string {
		t.Helper()
		out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind "$1" /etc/fstab && cd "$2" && `+steps, "_", fstab, dir).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", steps, err, out)
		}
		var words []string
		for _, w := range strings.Fields(string(out)) {
			if strings.HasPrefix(w, "disk-") {
				words = append(words, w)
			}
		}
		return words
	}
	if diff := cmp.Diff([]string{"disk-unmounted", "disk-ok"}, session("sh check.sh && sh prepare.sh >/dev/null && sh check.sh")); diff != "" {
		t.Errorf("before and after prepare (-want, +got):\n%s", diff)
	}
	d.grow(640)
	if diff := cmp.Diff([]string{"disk-grown", "disk-ok"}, session("mount "+d.dev+" "+mnt+" && sh check.sh && sh prepare.sh >/dev/null && sh check.sh")); diff != "" {
		t.Errorf("after the disk grew (-want, +got):\n%s", diff)
	}
	cases := map[string]struct {
		words []string
		want  string
	}{
		"NoDisk":    {},
		"Ok":        {words: []string{"abc", "disk-ok"}},
		"Grown":     {words: []string{"disk-grown"}, want: "the data disk /dev/x grew: its filesystem is to grow"},
		"Unmounted": {words: []string{"disk-unmounted"}, want: "the data disk /dev/x is not mounted at the node's directory"},
		"Silent":    {words: []string{"abc"}, want: "the data disk /dev/x is not mounted at the node's directory"},
	}
	for name, tc := range cases {
		dev := "/dev/x"
		if name == "NoDisk" {
			dev = ""
		}
		if diff := cmp.Diff(tc.want, Drift(dev, tc.words)); diff != "" {
			t.Errorf("%s: Drift (-want, +got):\n%s", name, diff)
		}
	}
}
