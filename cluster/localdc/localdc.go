// Package localdc is the local datacenter: guests as Linux network
// namespaces, each with its own address on a bridge and its own sshd, so the
// provider reaches "VMs" over real SSH exactly as it would real ones. They
// share the machine's binaries (/usr: PostgreSQL, Patroni, etcd from Debian).
//
// An isolated guest is also a machine of its own on disk: its own mount
// namespace where /var/lib, /root, /home, /tmp, /var/tmp and /var/log are
// its own directories, /etc is the host's with its own changes on top
// (overlayfs), /run is its own tmpfs, /dev holds only the basic devices and
// its data disks, and the datacenter's directory is hidden. Each data disk
// is a sparse file on a loop device, sized as its VM asks and grown when the
// VM's disk grows, named in the guest by its platform's stable path
// (/dev/disk/by-id/...), as udev names a real one.
//
// Requires root and iproute2. Everything created is named with a prefix so
// Teardown can find and remove it all.
package localdc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DC is one local datacenter: a bridge and its guests.
type DC struct {
	// Prefix names the bridge, namespaces and links ("q" gives bridge qbr,
	// namespaces q-<guest>). Keep it to 3 characters: links have 15.
	Prefix string
	// Gateway is the bridge's address with the subnet's prefix length,
	// for example 10.77.0.1/16.
	Gateway netip.Prefix
	// Dir holds each guest's files.
	Dir string
	// Isolated gives each guest its own mount namespace and data disks.
	Isolated bool
	// Hide lists more host directories isolated guests must not see (the
	// platform's state); Dir is always hidden.
	Hide []string
}

// Guest is one host.
type Guest struct {
	Name    string
	Address netip.Addr
	// HostKey is the sshd host private key (OpenSSH PEM) and AuthorizedKey the
	// login public key allowed in as root.
	HostKey       []byte
	AuthorizedKey string
	// Disks are the guest's data disks (isolated guests only).
	Disks []Disk
}

// Disk is a data disk of a guest.
type Disk struct {
	// Path the guest finds it at: its platform's stable name, for example
	// /dev/disk/by-id/wwn-0x6000c29....
	Path    string
	SizeGiB int32
}

func (d *DC) bridge() string           { return d.Prefix + "br" }
func (d *DC) netns(g string) string    { return d.Prefix + "-" + g }
func (d *DC) guestDir(g string) string { return filepath.Join(d.Dir, g) }

func run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Check reports why this machine cannot host a datacenter, if it cannot.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("the local datacenter needs root (network namespaces)")
	}
	for _, b := range []string{"ip", "/usr/sbin/sshd"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s not found: install iproute2 and openssh-server", b)
		}
	}
	return nil
}

// Up creates the bridge if missing.
func (d *DC) Up(ctx context.Context) error {
	if err := Check(); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return err
	}
	if run(ctx, "ip", "link", "show", d.bridge()) == nil {
		return nil
	}
	for _, c := range [][]string{
		{"ip", "link", "add", d.bridge(), "type", "bridge"},
		{"ip", "addr", "add", d.Gateway.String(), "dev", d.bridge()},
		{"ip", "link", "set", d.bridge(), "up"},
	} {
		if err := run(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// Add creates a guest: namespace, link to the bridge, address, and sshd with
// the given host key. Adding a guest that exists replaces it.
func (d *DC) Add(ctx context.Context, g Guest) error {
	_ = d.Remove(ctx, g.Name)
	ns, dir := d.netns(g.Name), d.guestDir(g.Name)
	short := shortName(g.Name)
	host, peer := d.Prefix+"h"+short, d.Prefix+"g"+short
	for _, c := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", host, "type", "veth", "peer", "name", peer},
		{"ip", "link", "set", host, "master", d.bridge(), "up"},
		{"ip", "link", "set", peer, "netns", ns},
		{"ip", "-n", ns, "link", "set", peer, "name", "eth0"},
		{"ip", "-n", ns, "addr", "add", netip.PrefixFrom(g.Address, d.Gateway.Bits()).String(), "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", d.Gateway.Addr().String()},
	} {
		if err := run(ctx, c...); err != nil {
			_ = d.Remove(ctx, g.Name)
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if d.Isolated {
		if err := d.startIsolated(g); err != nil {
			return err
		}
		if err := d.waitSSH(ctx, g); err != nil {
			return err
		}
		return d.SyncDisks(ctx, g)
	}
	// A shared guest's resolv.conf: ip netns exec mounts
	// /etc/netns/<ns>/resolv.conf over /etc/resolv.conf for sshd and every
	// session under it (an isolated guest has its own /etc).
	if err := os.MkdirAll(d.etcDir(g.Name), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.etcDir(g.Name), "resolv.conf"), []byte(resolvConf), 0o644); err != nil { //nolint:gosec // World-readable like /etc/resolv.conf.
		return err
	}
	files := map[string][]byte{
		"ssh_host_ed25519_key": g.HostKey,
		"authorized_keys":      []byte(g.AuthorizedKey + "\n"),
		"sshd_config":          []byte(sshdConfig(g.Address, dir)),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	if err := d.startSSHD(g, exec.Command("ip", "netns", "exec", ns, "/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))); err != nil {
		return err
	}
	return d.waitSSH(ctx, g)
}

// resolvConf makes every lookup in a guest fail at once: guests reach no DNS
// server, and Patroni's lookup as it starts waited 2 x 5 s for the host's.
const resolvConf = "# Written by Quorum's local datacenter: guests have no DNS, lookups fail at once.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"

func sshdConfig(addr netip.Addr, dir string) string {
	return fmt.Sprintf(`ListenAddress %s:22
HostKey %s/ssh_host_ed25519_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
# Guests share this machine's binaries (/usr): engine roles must not install
# packages into it (their install scripts stop when this is set).
SetEnv QUORUM_SHARED_HOST=1
`, addr, dir, dir, dir)
}

// startSSHD runs cmd (which ends in sshd) as the guest's first process and
// records its pid: with every step an exec, it is sshd's, and the guest's
// mount namespace is its.
func (d *DC) startSSHD(g Guest, cmd *exec.Cmd) error {
	log, err := os.OpenFile(filepath.Join(d.guestDir(g.Name), "sshd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close() //nolint:errcheck // The child has its own descriptor.
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start sshd for %s: %w", g.Name, err)
	}
	go cmd.Wait() //nolint:errcheck // Reaped; its log says why it ended.
	return os.WriteFile(d.PIDFile(g.Name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
}

// PIDFile holds the pid of a guest's sshd: nsenter -t <pid> -m -n enters
// the guest as its own processes see it.
func (d *DC) PIDFile(name string) string { return filepath.Join(d.guestDir(name), "pid") }

// privateDirs are the directories an isolated guest owns, bound over the
// host's from <guest dir>/root/<name>.
var privateDirs = []struct{ name, target, mode string }{
	{"var-lib", "/var/lib", "755"}, {"root", "/root", "700"}, {"home", "/home", "755"},
	{"tmp", "/tmp", "1777"}, {"var-tmp", "/var/tmp", "1777"}, {"var-log", "/var/log", "755"},
}

// devices are the character devices every guest has (Linux's numbers).
var devices = []struct {
	name         string
	major, minor int
}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}

// startIsolated starts sshd in a mount namespace of the guest's own.
func (d *DC) startIsolated(g Guest) error {
	root := filepath.Join(d.guestDir(g.Name), "root")
	etc := filepath.Join(root, "etc")
	files := map[string][]byte{
		"ssh/quorum/ssh_host_ed25519_key": g.HostKey,
		"ssh/quorum/authorized_keys":      []byte(g.AuthorizedKey + "\n"),
		"ssh/quorum/sshd_config":          []byte(sshdConfig(g.Address, "/etc/ssh/quorum")),
		// Guests reach no DNS server: lookups fail at once instead of
		// waiting 2 x 5 s for the host's nameserver (Patroni makes one as it
		// starts).
		"resolv.conf": []byte(resolvConf),
		"hostname":    []byte(g.Name + "\n"),
	}
	for name, b := range files {
		p := filepath.Join(etc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
	}
	_ = os.Chmod(filepath.Join(etc, "resolv.conf"), 0o644)
	_ = os.Chmod(filepath.Join(etc, "hostname"), 0o644)
	var b strings.Builder
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	b.WriteString("set -e\n")
	fmt.Fprintf(&b, "mkdir -p %s %s\n", q(filepath.Join(root, "etc-work")), q(filepath.Join(root, "var-lib", "postgresql")))
	for _, p := range privateDirs {
		fmt.Fprintf(&b, "mkdir -p %[1]s; chmod %[2]s %[1]s\n", q(filepath.Join(root, p.name)), p.mode)
	}
	// The guest's own directories are reached through /mnt while they are
	// bound over the host's: the datacenter's directory may itself lie
	// under one of them (/tmp, /var/lib) and vanish from view half way.
	fmt.Fprintf(&b, "mount --bind %s /mnt\n", q(root))
	b.WriteString("mount -t overlay overlay -o lowerdir=/etc,upperdir=/mnt/etc,workdir=/mnt/etc-work /etc\n")
	for _, p := range privateDirs {
		fmt.Fprintf(&b, "mount --bind /mnt/%s %s\n", p.name, p.target)
	}
	b.WriteString("umount /mnt\nchown postgres:postgres /var/lib/postgresql 2>/dev/null || true\n")
	b.WriteString("mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run\nmkdir -p /run/sshd\n")
	b.WriteString("mount -t tmpfs -o mode=755,nosuid tmpfs /dev\n")
	for _, dv := range devices {
		fmt.Fprintf(&b, "mknod -m 666 /dev/%s c %d %d\n", dv.name, dv.major, dv.minor)
	}
	b.WriteString("mkdir -p /dev/pts /dev/shm /dev/disk\nmount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts\nln -s pts/ptmx /dev/ptmx\n")
	b.WriteString("mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm\n")
	b.WriteString("ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr\n")
	// Last: nothing of the datacenter's own files (other guests' disks and
	// directories, the platform's keys) stays in view.
	for _, h := range append([]string{d.Dir}, d.Hide...) {
		fmt.Fprintf(&b, "if [ -d %[1]s ]; then mount -t tmpfs -o size=1m,mode=700 tmpfs %[1]s; fi\n", q(h))
	}
	b.WriteString("exec /usr/sbin/sshd -D -e -f /etc/ssh/quorum/sshd_config\n")
	return d.startSSHD(g, exec.Command("ip", "netns", "exec", d.netns(g.Name), "unshare", "--mount", "--propagation", "private", "sh", "-c", b.String()))
}

func (d *DC) waitSSH(ctx context.Context, g Guest) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Dial from here, through the bridge: the path the provider takes.
		if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(g.Address, 22).String(), time.Second); err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(d.guestDir(g.Name), "sshd.log"))
			return fmt.Errorf("sshd of %s not listening after 10s: %s", g.Name, strings.TrimSpace(string(b)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shortName keeps link names within 15 characters.
func shortName(s string) string {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return strconv.FormatUint(uint64(h), 36)
}

// Guests lists the guests that exist.
func (d *DC) Guests(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, err
	}
	var gs []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasPrefix(f[0], d.Prefix+"-") {
			gs = append(gs, strings.TrimPrefix(f[0], d.Prefix+"-"))
		}
	}
	return gs, nil
}

// Remove kills every process of a guest and deletes its namespace, links and
// files. Removing a guest that does not exist is not an error.
func (d *DC) Remove(ctx context.Context, name string) error {
	ns := d.netns(name)
	if out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output(); err == nil {
		// TERM first: a shell killed outright can leave its own locks behind
		// (a login shell's pyenv rehash lock blocked every later session).
		pids := strings.Fields(string(out))
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			for _, p := range pids {
				if pid, err := strconv.Atoi(p); err == nil {
					_ = syscall.Kill(pid, sig)
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		if err := run(ctx, "ip", "netns", "del", ns); err != nil {
			return err
		}
	}
	_ = run(ctx, "ip", "link", "del", d.Prefix+"h"+shortName(name))
	// With its processes gone, its mount namespace and the filesystems on
	// its disks are gone too.
	d.detachDisks(ctx, name)
	_ = os.RemoveAll(d.etcDir(name))
	return os.RemoveAll(d.guestDir(name))
}

// etcDir holds the files ip netns exec mounts over /etc in a guest.
func (d *DC) etcDir(name string) string { return filepath.Join("/etc/netns", d.netns(name)) }

// Teardown removes every guest and the bridge.
func (d *DC) Teardown(ctx context.Context) error {
	gs, err := d.Guests(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range gs {
		errs = append(errs, d.Remove(ctx, g))
	}
	if run(ctx, "ip", "link", "show", d.bridge()) == nil {
		errs = append(errs, run(ctx, "ip", "link", "del", d.bridge()))
	}
	errs = append(errs, os.RemoveAll(d.Dir))
	return errors.Join(errs...)
}

func (d *DC) diskFile(guest, path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(d.guestDir(guest), "disks", hex.EncodeToString(sum[:8])+".img")
}

// loopOf returns the loop device backing file, or "".
func loopOf(ctx context.Context, file string) (string, error) {
	out, err := exec.CommandContext(ctx, "losetup", "--associated", file).Output()
	if err != nil {
		return "", fmt.Errorf("losetup --associated %s: %w", file, err)
	}
	dev, _, _ := strings.Cut(string(out), ":")
	return strings.TrimSpace(dev), nil
}

// SyncDisks gives an isolated guest its data disks: each a sparse file on
// a loop device, grown (never shrunk) to its size, its capacity refreshed
// so the guest sees a grown disk at once, and named in the guest's /dev by
// its platform's stable path. Safe to run again at any time.
func (d *DC) SyncDisks(ctx context.Context, g Guest) error {
	if !d.Isolated || len(g.Disks) == 0 {
		return nil
	}
	b, err := os.ReadFile(d.PIDFile(g.Name))
	if err != nil {
		return fmt.Errorf("guest %s is not running: %w", g.Name, err)
	}
	pid := strings.TrimSpace(string(b))
	if err := os.MkdirAll(filepath.Join(d.guestDir(g.Name), "disks"), 0o700); err != nil {
		return err
	}
	for _, disk := range g.Disks {
		if !strings.HasPrefix(disk.Path, "/dev/") || strings.Contains(disk.Path, "..") {
			return fmt.Errorf("disk path %q of %s is not under /dev", disk.Path, g.Name)
		}
		file := d.diskFile(g.Name, disk.Path)
		f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		grown := false
		if err == nil && st.Size() < int64(disk.SizeGiB)<<30 {
			err, grown = f.Truncate(int64(disk.SizeGiB)<<30), true
		}
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("cannot size disk %s of %s: %w", disk.Path, g.Name, err)
		}
		dev, err := loopOf(ctx, file)
		if err != nil {
			return err
		}
		switch {
		case dev == "":
			out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", file).Output()
			if err != nil {
				return fmt.Errorf("cannot attach disk %s of %s: %w", disk.Path, g.Name, err)
			}
			dev = strings.TrimSpace(string(out))
		case grown:
			if err := run(ctx, "losetup", "--set-capacity", dev); err != nil {
				return err
			}
		}
		var ds syscall.Stat_t
		if err := syscall.Stat(dev, &ds); err != nil {
			return err
		}
		major, minor := (ds.Rdev>>8)&0xfff, (ds.Rdev&0xff)|((ds.Rdev>>12)&0xfff00)
		rel, _ := filepath.Rel(filepath.Dir(disk.Path), dev)
		// The node keeps its host name (libblkid finds it through
		// /proc/partitions); the stable path is a link, as udev makes it.
		script := fmt.Sprintf("set -e; [ -b %[1]s ] || mknod -m 660 %[1]s b %[2]d %[3]d; mkdir -p %[4]s; ln -sfn %[5]s %[6]s",
			dev, major, minor, filepath.Dir(disk.Path), rel, disk.Path)
		if err := run(ctx, "nsenter", "-t", pid, "-m", "--", "sh", "-c", script); err != nil {
			return fmt.Errorf("cannot attach disk %s to %s: %w", disk.Path, g.Name, err)
		}
	}
	return nil
}

// detachDisks frees a removed guest's loop devices.
func (d *DC) detachDisks(ctx context.Context, name string) {
	files, _ := filepath.Glob(filepath.Join(d.guestDir(name), "disks", "*.img"))
	for _, f := range files {
		if dev, err := loopOf(ctx, f); err == nil && dev != "" {
			_ = run(ctx, "losetup", "--detach", dev)
		}
	}
}
