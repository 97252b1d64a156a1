// Package localdc is the local datacenter: guests as Linux network
// namespaces, each with its own address on a bridge and its own sshd, so the
// provider reaches "VMs" over real SSH exactly as it would real ones. They
// share the machine's filesystem and binaries (PostgreSQL, Patroni, etcd from
// Debian); each guest gets its own directory for data.
//
// Requires root and iproute2. Everything created is named with a prefix so
// Teardown can find and remove it all.
package localdc

import (
	"context"
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
}

// Guest is one host.
type Guest struct {
	Name    string
	Address netip.Addr
	// HostKey is the sshd host private key (OpenSSH PEM) and AuthorizedKey the
	// login public key allowed in as root.
	HostKey       []byte
	AuthorizedKey string
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
	// Guests reach no DNS server; without this, every lookup in a guest
	// (Patroni makes one as it starts) waits 2 x 5 s for the host's
	// nameserver. ip netns exec mounts /etc/netns/<ns>/resolv.conf over
	// /etc/resolv.conf for sshd and every session under it.
	if err := os.MkdirAll(d.etcDir(g.Name), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.etcDir(g.Name), "resolv.conf"), []byte("# Written by Quorum's local datacenter: guests have no DNS, lookups fail at once.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644); err != nil { //nolint:gosec // World-readable like /etc/resolv.conf.
		return err
	}
	files := map[string][]byte{
		"ssh_host_ed25519_key": g.HostKey,
		"authorized_keys":      []byte(g.AuthorizedKey + "\n"),
		"sshd_config": []byte(fmt.Sprintf(`ListenAddress %s:22
HostKey %s/ssh_host_ed25519_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
# Guests share this machine's filesystem: engine roles must not install
# packages into it (their install scripts stop when this is set).
SetEnv QUORUM_SHARED_HOST=1
`, g.Address, dir, dir, dir)),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(dir, "sshd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close() //nolint:errcheck // The child has its own descriptor.
	cmd := exec.Command("ip", "netns", "exec", ns, "/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start sshd for %s: %w", g.Name, err)
	}
	go cmd.Wait() //nolint:errcheck // Reaped; its log says why it ended.
	return d.waitSSH(ctx, g)
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
