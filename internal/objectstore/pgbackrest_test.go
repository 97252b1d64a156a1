package objectstore

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quorumdb/quorum/internal/objectstore/scopedkey"
)

// need fails under CI and skips elsewhere when a tool is missing.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI", what)
	}
	t.Skipf("%s is missing", what)
}

// TestPgBackRest runs pgBackRest 2.45 against the store for real: a
// PostgreSQL archives WAL through archive_command, a full backup is taken
// and read back with info and repo-ls, over HTTPS with the store's
// certificate verified and every request signed. A second configuration
// with a key limited to another prefix cannot read the backups.
func TestPgBackRest(t *testing.T) {
	_, err := exec.LookPath("pgbackrest")
	need(t, err == nil, "pgbackrest (Debian package pgbackrest)")
	bindir, _ := exec.Command("pg_config", "--bindir").Output()
	bin := strings.TrimSpace(string(bindir))
	_, err = os.Stat(filepath.Join(bin, "initdb"))
	need(t, err == nil && os.Geteuid() == 0, "PostgreSQL server binaries and root (to run them as postgres)")

	store, srv := newStore(t)
	store.AdmitScopedKeys("root-of-the-test-platform")
	dir, err := os.MkdirTemp("", "quorum-s3-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ca := caPEM
	conf := func(name string, k Key) string {
		p := filepath.Join(dir, name)
		c := fmt.Sprintf(`[global]
repo1-type=s3
repo1-s3-bucket=backups
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=%s
repo1-s3-region=us-east-1
repo1-s3-uri-style=path
repo1-storage-ca-file=%s
repo1-s3-key=%s
repo1-s3-key-secret=%s
repo1-path=/team-a/db/incarnation-1
lock-path=%s/lock
log-path=%s/log
log-level-console=warn
start-fast=y

[db]
pg1-path=%s/data
pg1-socket-path=%s
pg1-port=5499
`, port, filepath.Join(dir, "ca.crt"), k.ID, k.Secret, dir, dir, dir, dir)
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644); err != nil { //nolint:gosec // A certificate.
		t.Fatal(err)
	}
	own := conf("own.conf", tenant)
	foreign := conf("other.conf", other)
	run := func(args ...string) (string, error) {
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	if out, err := run(filepath.Join(bin, "initdb"), "-D", dir+"/data", "-A", "trust"); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	opts := fmt.Sprintf("-c port=5499 -c listen_addresses='' -c unix_socket_directories=%s -c archive_mode=on -c wal_level=replica -c archive_command='pgbackrest --config=%s --stanza=db archive-push %%p'", dir, own)
	if out, err := run(filepath.Join(bin, "pg_ctl"), "-D", dir+"/data", "-o", opts, "-l", dir+"/pg.log", "-w", "start"); err != nil {
		t.Fatalf("pg_ctl start: %v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = run(filepath.Join(bin, "pg_ctl"), "-D", dir+"/data", "-m", "immediate", "stop") })

	for _, step := range [][]string{
		{"pgbackrest", "--config=" + own, "--stanza=db", "stanza-create"},
		{"pgbackrest", "--config=" + own, "--stanza=db", "check"},
		{"pgbackrest", "--config=" + own, "--stanza=db", "--type=full", "backup"},
	} {
		if out, err := run(step...); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(step[2:], " "), err, out)
		}
	}
	info, err := run("pgbackrest", "--config="+own, "--stanza=db", "info")
	if err != nil || !strings.Contains(info, "full backup") {
		t.Fatalf("info shows no full backup: %v: %s", err, info)
	}
	ls, err := run("pgbackrest", "--config="+own, "repo-ls", "--recurse", "archive/db")
	if err != nil || !strings.Contains(ls, ".lz4") && !strings.Contains(ls, ".gz") {
		t.Fatalf("repo-ls shows no archived WAL: %v: %s", err, ls)
	}
	// The directory above a repository lists it as a path (restores find a
	// source's incarnations so).
	ls, err = run("pgbackrest", "--config="+own, "--repo1-path=/team-a/db", "--output=json", "repo-ls")
	if err != nil || !strings.Contains(ls, `"incarnation-1":{"type":"path"}`) {
		t.Errorf("repo-ls of the parent does not list the repository as a path: %v: %s", err, ls)
	}
	// The repository's own key, derived for its path, as the provider
	// gives nodes: info and repo-ls of the repository work, the level
	// above does not.
	id, secret := scopedkey.Derive("root-of-the-test-platform", "backups", "/team-a/db/incarnation-1")
	scoped := conf("scoped.conf", Key{ID: id, Secret: secret})
	if out, err := exec.Command("chown", "postgres:postgres", scoped).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	if out, err := run("pgbackrest", "--config="+scoped, "--stanza=db", "info"); err != nil || !strings.Contains(out, "full backup") {
		t.Errorf("the repository's own key cannot read it: %v: %s", err, out)
	}
	if out, err := run("pgbackrest", "--config="+scoped, "--output=json", "repo-ls"); err != nil || !strings.Contains(out, `"archive"`) {
		t.Errorf("the repository's own key cannot list it: %v: %s", err, out)
	}
	if out, err := run("pgbackrest", "--config="+scoped, "--repo1-path=/team-a/db", "--output=json", "repo-ls"); err == nil {
		t.Errorf("the repository's own key listed the level above: %s", out)
	}
	if out, err := run("pgbackrest", "--config="+foreign, "--stanza=db", "info"); err == nil && strings.Contains(out, "full backup") {
		t.Errorf("a key without access to the prefix read the backups: %s", out)
	}
}
