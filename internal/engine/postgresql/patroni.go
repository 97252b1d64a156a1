// Package postgresql installs and clusters PostgreSQL with Patroni on a host
// over SSH: the data directory, an etcd member of the cluster's own DCS, the
// Patroni configuration, and the services, each step idempotent. It also
// reads a node's role, timeline and lag from Patroni's REST API.
package postgresql

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quorumdb/quorum/internal/engine/disk"
	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// Member is a node of the cluster.
type Member struct {
	Name    string
	Address string
}

// Node is one PostgreSQL node as the DatabaseNode describes it.
type Node struct {
	Cluster string
	Name    string
	Address string
	Members []Member
	Port    int
	// Replication is none, async or sync (synchronous_mode_strict: no
	// acknowledged commit without a standby having it).
	Replication string
	BinDir      string
	// BaseDir holds this node's data, configuration and logs; DataDisk,
	// when set, is the disk mounted there.
	BaseDir             string
	DataDisk            string
	AdminUser           string
	AdminPassword       string
	ReplicationPassword string
	Parameters          map[string]string
	MemoryMiB           int32
	// TLS, when set, turns on SSL and makes every TCP client and replication
	// connection use it (hostssl only).
	TLS *node.TLS
	// Backup, when set, archives WAL to the repository with pgBackRest.
	Backup *node.BackupRepo
	// Restore, when set, forms the cluster from another cluster's backup
	// (Patroni's custom bootstrap) instead of initdb.
	Restore *node.Restore
	// Bootstrap is the member meant to form the cluster: a restore it
	// cannot serve stops it; other members only prepare for it.
	Bootstrap bool

	// plain runs Patroni as shipped (its default timings, no sentinel,
	// PostgreSQL's default WAL retry), for the failover benchmark's
	// comparison only.
	plain bool
}

// Ports of the node's services.
const (
	RESTPort       = 8008
	EtcdClientPort = 2379
	EtcdPeerPort   = 2380
)

func (n Node) dir(p ...string) string { return path.Join(append([]string{n.BaseDir}, p...)...) }

// socketDir is short whatever the base directory: a Unix socket path must
// fit in 107 bytes.
func (n Node) socketDir() string { return SocketDir(n.BaseDir) }

// SocketDir is where a node with this base directory keeps its sockets.
func SocketDir(baseDir string) string {
	sum := sha256.Sum256([]byte(baseDir))
	return "/run/quorum/" + hex.EncodeToString(sum[:6])
}

func (n Node) etcdCluster() string {
	parts := make([]string, len(n.Members))
	for i, m := range n.Members {
		parts[i] = fmt.Sprintf("%s=http://%s", m.Name, net.JoinHostPort(m.Address, strconv.Itoa(EtcdPeerPort)))
	}
	return strings.Join(parts, ",")
}

func (n Node) etcdHosts() []string {
	h := make([]string, len(n.Members))
	for i, m := range n.Members {
		h[i] = net.JoinHostPort(m.Address, strconv.Itoa(EtcdClientPort))
	}
	return h
}

// Patroni timings: a dead leader's key expires after ttl; loop_wait and
// retry_timeout must fit in it twice over.
const (
	ttl          = 10
	loopWait     = 1
	retryTimeout = 4
)

// clusterParameters are the settings Patroni takes only from the DCS (its
// global configuration), ignoring them in a node's local configuration.
var clusterParameters = []string{
	"hot_standby", "max_connections", "max_locks_per_transaction", "max_prepared_transactions", "max_replication_slots",
	"max_wal_senders", "max_worker_processes", "track_commit_timestamp", "wal_keep_size", "wal_level", "wal_log_hints",
}

// parameters returns the node's settings split into the cluster-wide ones
// (DCS) and the node's own (local configuration, reloaded on change).
func (n Node) parameters() (cluster, local map[string]string) {
	all := map[string]string{
		"max_connections": "200", "wal_level": "replica", "hot_standby": "on",
		"max_wal_senders": "10", "max_replication_slots": "10", "wal_keep_size": "256MB",
		"wal_log_hints": "on", "password_encryption": "scram-sha-256",
		// After a failover the remaining replicas reconnect to the new
		// primary, whose slot for them appears within one Patroni loop; with
		// strict synchronous replication no commit is acknowledged until
		// one of them streams, so the retry (5 s by default) is the write
		// outage. Half a second keeps it short.
		"wal_retrieve_retry_interval": "500ms",
	}
	if n.plain {
		delete(all, "wal_retrieve_retry_interval")
	}
	if n.MemoryMiB > 0 {
		all["shared_buffers"] = fmt.Sprintf("%dMB", n.MemoryMiB/4)
		all["effective_cache_size"] = fmt.Sprintf("%dMB", n.MemoryMiB*3/4)
	}
	for k, v := range n.Parameters {
		all[k] = v
	}
	for k, v := range n.backupParameters() {
		all[k] = v
	}
	if n.TLS != nil {
		all["ssl"] = "on"
		all["ssl_cert_file"] = n.dir("tls", "server.crt")
		all["ssl_key_file"] = n.dir("tls", "server.key")
		all["ssl_ca_file"] = n.dir("tls", "ca.crt")
		all["ssl_min_protocol_version"] = "TLSv1.2"
	}
	cluster, local = map[string]string{}, map[string]string{}
	for k, v := range all {
		if slices.Contains(clusterParameters, k) {
			cluster[k] = v
		} else {
			local[k] = v
		}
	}
	return cluster, local
}

func yamlMap(m map[string]string, indent string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%s: %s\n", indent, k, strconv.Quote(m[k]))
	}
	return b.String()
}

// hba is pg_hba.conf: local connections only for the postgres OS user
// (the socket directory is postgres' alone), replication only from the
// members as the replication user, everything else by SCRAM password, over
// TLS when the node has a certificate.
func (n Node) hba() string {
	host := "host"
	if n.TLS != nil {
		host = "hostssl"
	}
	var b strings.Builder
	b.WriteString("    - local all all trust\n")
	for _, m := range n.Members {
		fmt.Fprintf(&b, "    - %s replication replicator %s/32 scram-sha-256\n", host, m.Address)
	}
	b.WriteString("    - host all replicator 0.0.0.0/0 reject\n")
	fmt.Fprintf(&b, "    - %s all all 127.0.0.1/32 scram-sha-256\n", host)
	fmt.Fprintf(&b, "    - %s all all 0.0.0.0/0 scram-sha-256\n", host)
	return b.String()
}

// PatroniConfig renders patroni.yml.
func (n Node) PatroniConfig() []byte {
	cluster, local := n.parameters()
	local["unix_socket_directories"] = n.socketDir()
	sync := "false"
	if n.Replication == "sync" {
		sync = "true"
	}
	hosts, _ := json.Marshal(n.etcdHosts())
	tlsNote := ""
	if n.TLS != nil {
		// The certificate's checksum, so that a reissued certificate changes
		// this file and Patroni reloads PostgreSQL.
		sum := sha256.Sum256(append(append(append([]byte{}, n.TLS.Cert...), n.TLS.Key...), n.TLS.CA...))
		tlsNote = "# tls: " + hex.EncodeToString(sum[:8]) + "\n"
	}
	if c := n.PgBackRestConfig(); c != nil {
		// Likewise for the backup configuration, which has no reload of its
		// own: drift in it shows as drift in this file.
		sum := sha256.Sum256(c)
		tlsNote += "# backup: " + hex.EncodeToString(sum[:8]) + "\n"
	}
	if c := n.RestoreConfig(); c != nil {
		sum := sha256.Sum256(c)
		tlsNote += "# restore: " + hex.EncodeToString(sum[:8]) + "\n"
	}
	return []byte(fmt.Sprintf(`%sscope: %s
name: %s
log:
  dir: %s
restapi:
  listen: %s
  connect_address: %s
etcd:
  hosts: %s
bootstrap:
%s  dcs:
    ttl: %d
    loop_wait: %d
    retry_timeout: %d
    maximum_lag_on_failover: 1048576
    synchronous_mode: %s
    synchronous_mode_strict: %s
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
%s  initdb:
    - encoding: UTF8
    - data-checksums
postgresql:
  listen: %s
  connect_address: %s
  data_dir: %s
  bin_dir: %s
  pgpass: %s
  parameters:
%s  authentication:
    superuser:
      username: %s
      password: %s
    replication:
      username: replicator
      password: %s
  pg_hba:
%s`, tlsNote, n.Cluster, n.Name, n.dir("log"),
		net.JoinHostPort(n.Address, strconv.Itoa(RESTPort)), net.JoinHostPort(n.Address, strconv.Itoa(RESTPort)),
		hosts, n.bootstrapMethod(), timing(n.plain, ttl, 30), timing(n.plain, loopWait, 10), timing(n.plain, retryTimeout, 10), sync, sync, yamlMap(cluster, "        "),
		net.JoinHostPort(n.Address, strconv.Itoa(n.Port)), net.JoinHostPort(n.Address, strconv.Itoa(n.Port)),
		n.dir("data"), n.dir("bin"), n.dir("pgpass"), yamlMap(local, "    "),
		n.AdminUser, strconv.Quote(n.AdminPassword), strconv.Quote(n.ReplicationPassword), n.hba()))
}

// diskCheck is the data disk's drift check followed by ";", or nothing
// without a data disk.
func diskCheck(device, dir string) string {
	if device == "" {
		return ""
	}
	return disk.Check(device, dir) + ";"
}

// writeFiles writes files only postgres reads, in a stable order.
func writeFiles(ctx context.Context, c host.Host, files map[string][]byte) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if _, err := c.WriteFile(ctx, p, files[p], 0o600, "postgres:postgres"); err != nil {
			return err
		}
	}
	return nil
}

// major is the PostgreSQL major version, from the Debian binary directory.
func (n Node) major() string { return path.Base(path.Dir(n.BinDir)) }

// binDirs are where the server binaries live: Debian/Ubuntu's packages,
// then the PostgreSQL Global Development Group's RPMs on RHEL.
func (n Node) binDirs() []string { return []string{n.BinDir, "/usr/pgsql-" + n.major() + "/bin"} }

// installScript installs PostgreSQL, Patroni and etcd (and curl and pkill,
// which the sentinel uses) from the distribution
// (Debian/Ubuntu) or PGDG and EPEL (RHEL family) when they are missing. The
// packages' own services stay off: the node runs its own instances.
func (n Node) installScript() string {
	m := n.major()
	return fmt.Sprintf(`set -e
if { test -x %[1]s/postgres || test -x /usr/pgsql-%[2]s/bin/postgres; } && command -v patroni >/dev/null && command -v etcd >/dev/null && command -v curl >/dev/null && command -v pkill >/dev/null; then exit 0; fi
if [ -n "${QUORUM_SHARED_HOST:-}" ]; then echo "PostgreSQL %[2]s, Patroni and etcd not installed, and this host shares its binaries (/usr) with other hosts (local datacenter): install it on the machine itself" >&2; exit 1; fi
. /etc/os-release
case " $ID $ID_LIKE " in
  *" debian "*|*" ubuntu "*)
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/quorum.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql-%[2]s patroni etcd-server curl procps
    systemctl disable --now etcd patroni 2>/dev/null || true ;;
  *" rhel "*|*" fedora "*|*" centos "*)
    dnf install -y -q "https://download.postgresql.org/pub/repos/yum/reporpms/EL-$(rpm -E %%rhel)-$(uname -m)/pgdg-redhat-repo-latest.noarch.rpm" epel-release || true
    dnf -qy module disable postgresql || true
    dnf install -y -q postgresql%[2]s-server patroni patroni-etcd etcd curl procps-ng
    systemctl disable --now etcd patroni 2>/dev/null || true ;;
  *) echo "cannot install PostgreSQL on $ID: install PostgreSQL %[2]s, Patroni and etcd, then retry" >&2; exit 1 ;;
esac`, n.BinDir, m)
}

// Apply brings the node to its configuration: directories, etcd member,
// patroni.yml, and both services running. Safe to run again at any time;
// it changes only what differs and restarts nothing that is healthy.
func Apply(ctx context.Context, c host.Host, n Node) error {
	if _, err := c.Run(ctx, "install packages", n.installScript()); err != nil {
		return err
	}
	// Before anything is written to the node's directory: on the OS disk,
	// it would be hidden by the data disk, or the node would run there.
	if err := disk.Prepare(ctx, c, n.DataDisk, n.BaseDir); err != nil {
		return err
	}
	steps := []struct{ name, cmd string }{
		{"link binaries", fmt.Sprintf("set -e; mkdir -p %s; for d in %s; do if test -x \"$d/postgres\"; then ln -sfn \"$d\" %s; exit 0; fi; done; echo 'no PostgreSQL server binaries found in %s' >&2; exit 1",
			host.Quote(n.BaseDir), strings.Join(n.binDirs(), " "), host.Quote(n.dir("bin")), strings.Join(n.binDirs(), " or "))},
		// Pid files stay root's: start-stop-daemon refuses to trust others.
		// The socket directory is postgres' alone: local connections are
		// trusted, so only that OS user (and root) may reach the socket.
		{"prepare directories", fmt.Sprintf("set -e; mkdir -p %s %s %s %s %s %s; chown -R postgres:postgres %s %s; chmod 700 %s %s %s; chown -R root:root %s",
			n.dir("log"), n.dir("etcd"), n.dir("data"), n.dir("tls"), n.socketDir(), n.dir("pids"), n.BaseDir, n.socketDir(), n.dir("data"), n.dir("tls"), n.socketDir(), n.dir("pids"))},
	}
	for _, s := range steps {
		if _, err := c.Run(ctx, s.name, s.cmd); err != nil {
			return err
		}
	}
	if n.TLS != nil {
		for _, f := range []struct {
			name    string
			content []byte
		}{{"server.crt", n.TLS.Cert}, {"server.key", n.TLS.Key}, {"ca.crt", n.TLS.CA}} {
			if _, err := c.WriteFile(ctx, n.dir("tls", f.name), f.content, 0o600, "postgres:postgres"); err != nil {
				return err
			}
		}
	}
	if conf := n.PgBackRestConfig(); conf != nil {
		if _, err := c.Run(ctx, "prepare backup directories", n.backupDirs()); err != nil {
			return err
		}
		if _, err := c.WriteFile(ctx, n.backupConf(), conf, 0o600, "postgres:postgres"); err != nil {
			return err
		}
		if err := writeFiles(ctx, c, n.repoFiles(n.Backup, "")); err != nil {
			return err
		}
	}
	if conf := n.RestoreConfig(); conf != nil {
		if _, err := c.Run(ctx, "prepare restore directories", fmt.Sprintf("set -e; mkdir -p %[1]s %[2]s; chown -R postgres:postgres %[3]s",
			host.Quote(n.dir("pgbackrest", "lock")), host.Quote(n.dir("pgbackrest", "spool")), host.Quote(n.dir("pgbackrest")))); err != nil {
			return err
		}
		if _, err := c.WriteFile(ctx, n.restoreConf(), conf, 0o600, "postgres:postgres"); err != nil {
			return err
		}
		if err := writeFiles(ctx, c, n.repoFiles(&n.Restore.Repo, "restore-")); err != nil {
			return err
		}
		// A member joining a cluster formed long ago (a replaced replica)
		// clones from the primary: its source's backups may have expired.
		if err := resolveRestoreSource(ctx, c, n); err != nil && n.Bootstrap {
			return err
		}
	}
	changed, err := c.WriteFile(ctx, n.dir("patroni.yml"), n.PatroniConfig(), 0o600, "postgres:postgres")
	if err != nil {
		return err
	}
	patroniPid := n.dir("pids", "patroni.pid")
	if changed {
		// A running Patroni rereads patroni.yml on SIGHUP and reloads
		// PostgreSQL. One not running yet reads it when started below.
		if _, err := c.Run(ctx, "reload patroni", fmt.Sprintf(`if %s; then kill -HUP "$pid"; fi`, host.Alive(patroniPid))); err != nil {
			return err
		}
	}
	etcd := fmt.Sprintf("etcd --name %s --data-dir %s --enable-v2=true --listen-client-urls http://%s --advertise-client-urls http://%s --listen-peer-urls http://%s --initial-advertise-peer-urls http://%s --initial-cluster %s --initial-cluster-token %s --initial-cluster-state new --heartbeat-interval 100 --election-timeout 1000",
		n.Name, n.dir("etcd"), net.JoinHostPort(n.Address, "2379"), net.JoinHostPort(n.Address, "2379"),
		net.JoinHostPort(n.Address, "2380"), net.JoinHostPort(n.Address, "2380"), n.etcdCluster(), n.Cluster)
	if _, err := c.Run(ctx, "start etcd", host.Start(n.dir("pids", "etcd.pid"), "postgres", n.dir("log", "etcd.log"), etcd)); err != nil {
		return err
	}
	if _, err := c.Run(ctx, "start patroni", host.Start(patroniPid, "postgres", n.dir("log", "patroni.out"), "patroni "+n.dir("patroni.yml"))); err != nil {
		return err
	}
	if n.plain {
		return nil
	}
	sentinelChanged, err := c.WriteFile(ctx, n.dir("sentinel.sh"), n.SentinelScript(), 0o644, "root:root")
	if err != nil {
		return err
	}
	if sentinelChanged {
		if _, err := c.Run(ctx, "stop sentinel for its new script", host.Stop(n.dir("pids", "sentinel.pid"))); err != nil {
			return err
		}
	}
	if _, err := c.Run(ctx, "start sentinel", host.Start(n.dir("pids", "sentinel.pid"), "postgres", n.dir("log", "sentinel.log"), "sh "+n.dir("sentinel.sh"))); err != nil {
		return err
	}
	return nil
}

// timing is ours, or Patroni's default for a plain node.
func timing(plain bool, ours, patroni int) int {
	if plain {
		return patroni
	}
	return ours
}

// sentinelPoll is how often the sentinel checks that Patroni runs.
const sentinelPoll = "0.1"

// SentinelScript is the node's sentinel. Patroni releases its leader key
// when it stops, but a Patroni killed (kill -9, OOM, a crash) leaves the
// key to expire after ttl, and the standbys wait that long before taking
// over. The sentinel, running beside it, sees Patroni gone within
// sentinelPoll; if this node holds the leader key it first fences
// PostgreSQL (kills the postmaster and its children, so nothing here can
// accept a write) and then deletes the key if it still names this node, so
// the standbys' Patroni, watching the key, elect the synchronous standby at
// once. When the whole host is gone, the sentinel is too and the key
// expires as before. It never touches a running Patroni nor another
// node's key.
func (n Node) SentinelScript() []byte {
	key := fmt.Sprintf("http://%s/v2/keys/service/%s/leader", net.JoinHostPort(n.Address, strconv.Itoa(EtcdClientPort)), n.Cluster)
	return []byte(fmt.Sprintf(`# Written by Quorum: fences this node and releases its leader key when Patroni dies.
key=%[1]s
while :; do
  if ! %[2]s; then
    if curl -fsS --max-time 1 "$key" 2>/dev/null | grep -q '"value":"%[3]s"'; then
      pm=$(head -n 1 %[4]s 2>/dev/null)
      # Only this node's postmaster: a stale pid file's pid may be reused.
      if [ -n "$pm" ] && tr '\0' ' ' < /proc/"$pm"/cmdline 2>/dev/null | grep -qF -- %[6]s; then
        pkill -KILL -P "$pm"; kill -KILL "$pm"
        echo "$(date -u +%%FT%%TZ) Patroni is gone: PostgreSQL (postmaster $pm) fenced"
      fi
      if curl -fsS --max-time 1 -X DELETE "$key?prevValue=%[3]s" >/dev/null 2>&1; then
        echo "$(date -u +%%FT%%TZ) Patroni is gone: leader key released"
      fi
    fi
  fi
  sleep %[5]s
done
`, host.Quote(key), host.Alive(n.dir("pids", "patroni.pid")), n.Name, host.Quote(n.dir("data", "postmaster.pid")), sentinelPoll, host.Quote("-D "+n.dir("data"))))
}

// Status is a node as Patroni reports it.
type Status struct {
	Role     string `json:"role"`
	State    string `json:"state"`
	Timeline int64  `json:"timeline"`
	Server   int64  `json:"server_version"`
}

// ClusterMember is one member in Patroni's /cluster view.
type ClusterMember struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	State    string `json:"state"`
	Timeline int64  `json:"timeline"`
	Lag      any    `json:"lag"`
}

// Observe reads the node's status and the cluster's members from Patroni's
// REST API.
func Observe(ctx context.Context, address string) (Status, []ClusterMember, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	get := func(p string, into any) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(address, strconv.Itoa(RESTPort))+p, nil)
		rsp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer rsp.Body.Close() //nolint:errcheck // Read only.
		return json.NewDecoder(rsp.Body).Decode(into)
	}
	var st Status
	if err := get("/patroni", &st); err != nil {
		return st, nil, fmt.Errorf("cannot read Patroni status of %s: %w", address, err)
	}
	if st.Role == "master" {
		st.Role = "primary"
	}
	var cl struct {
		Members []ClusterMember `json:"members"`
	}
	if err := get("/cluster", &cl); err != nil {
		return st, nil, fmt.Errorf("cannot read Patroni cluster view from %s: %w", address, err)
	}
	for i := range cl.Members {
		if cl.Members[i].Role == "leader" {
			cl.Members[i].Role = "primary"
		}
	}
	return st, cl.Members, nil
}

// ConfigSum is the checksum Apply leaves patroni.yml with; Drifted compares
// the file on the host against it.
func (n Node) ConfigSum() string {
	sum := sha256.Sum256(n.PatroniConfig())
	return hex.EncodeToString(sum[:])
}

// Drifted reports whether the host departs from the node's configuration: the
// configuration file changed outside, or a service is not running.
func Drifted(ctx context.Context, c host.Host, n Node) (string, error) {
	st, err := c.Run(ctx, "check drift", fmt.Sprintf(
		"sha256sum %s 2>/dev/null | cut -d' ' -f1; %s && echo etcd-up; %s && echo patroni-up; %s && echo sentinel-up; %s true",
		host.Quote(n.dir("patroni.yml")), host.Alive(n.dir("pids", "etcd.pid")), host.Alive(n.dir("pids", "patroni.pid")), host.Alive(n.dir("pids", "sentinel.pid")), diskCheck(n.DataDisk, n.BaseDir)))
	if err != nil {
		return "", err
	}
	lines := strings.Fields(st.Stdout)
	if d := disk.Drift(n.DataDisk, lines); d != "" {
		return d, nil
	}
	has := func(s string) bool {
		for _, l := range lines {
			if l == s {
				return true
			}
		}
		return false
	}
	switch {
	case len(lines) == 0 || lines[0] != n.ConfigSum():
		return "patroni.yml differs from the desired configuration", nil
	case !has("etcd-up"):
		return "etcd is not running", nil
	case !has("patroni-up"):
		return "patroni is not running", nil
	case !has("sentinel-up") && !n.plain:
		return "the sentinel is not running", nil
	}
	return "", nil
}

// Stop stops the node's services, keeping its data: the sentinel (a
// stopping Patroni releases its key itself), Patroni (it stops PostgreSQL
// cleanly), then etcd.
func Stop(ctx context.Context, c host.Host, n Node) error {
	_, err := c.Run(ctx, "stop services", host.Stop(n.dir("pids", "sentinel.pid"), n.dir("pids", "patroni.pid"), n.dir("pids", "etcd.pid")))
	return err
}

// Restart asks Patroni to restart PostgreSQL on the node at address and
// waits until it runs again.
func Restart(ctx context.Context, address string) error {
	if err := restDo(ctx, http.MethodPost, restURL(address, "/restart"), map[string]any{}, nil); err != nil {
		return fmt.Errorf("cannot restart PostgreSQL through Patroni: %w", err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if st, _, err := Observe(ctx, address); err == nil && (st.State == "running" || st.State == "streaming") {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("PostgreSQL is not running 60s after its restart; see the node's patroni.out")
		}
	}
}

// Switchover asks Patroni to hand the primary role from leader to candidate.
func Switchover(ctx context.Context, address, leader, candidate string) error {
	body, _ := json.Marshal(map[string]string{"leader": leader, "candidate": candidate})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+net.JoinHostPort(address, strconv.Itoa(RESTPort))+"/switchover", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rsp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot request a switchover from %s: %w", address, err)
	}
	defer rsp.Body.Close() //nolint:errcheck // Read only.
	msg, _ := io.ReadAll(io.LimitReader(rsp.Body, 1024))
	if rsp.StatusCode != http.StatusOK {
		return fmt.Errorf("switchover from %s to %s refused by Patroni (HTTP %d): %s", leader, candidate, rsp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

func restURL(address, p string) string {
	return "http://" + net.JoinHostPort(address, strconv.Itoa(RESTPort)) + p
}

func restDo(ctx context.Context, method, url string, body any, into any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	rsp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer rsp.Body.Close() //nolint:errcheck // Read only.
	if rsp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(rsp.Body, 512))
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, rsp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if into != nil {
		return json.NewDecoder(rsp.Body).Decode(into)
	}
	return nil
}

// clusterDrift compares the cluster-wide parameters in the DCS with the
// node's and reports a restart PostgreSQL waits for. It returns "" when
// Patroni does not answer: Observe reports that.
func clusterDrift(ctx context.Context, n Node) string {
	var cfg struct {
		PostgreSQL struct {
			Parameters map[string]any `json:"parameters"`
		} `json:"postgresql"`
	}
	if err := restDo(ctx, http.MethodGet, restURL(n.Address, "/config"), nil, &cfg); err != nil {
		return ""
	}
	want, _ := n.parameters()
	for k, v := range want {
		if fmt.Sprint(cfg.PostgreSQL.Parameters[k]) != v {
			return fmt.Sprintf("cluster parameter %s is %v, want %s", k, cfg.PostgreSQL.Parameters[k], v)
		}
	}
	var st struct {
		PendingRestart bool `json:"pending_restart"`
	}
	if err := restDo(ctx, http.MethodGet, restURL(n.Address, "/patroni"), nil, &st); err == nil && st.PendingRestart {
		return "PostgreSQL needs a restart for changed parameters"
	}
	return ""
}

// applyCluster sets the cluster-wide parameters in the DCS (a PATCH, as
// patronictl edit-config does) and restarts PostgreSQL on this node when a
// changed parameter requires it. Skipped while Patroni does not answer yet.
func applyCluster(ctx context.Context, n Node) error {
	if clusterDrift(ctx, n) == "" {
		return nil
	}
	want, _ := n.parameters()
	params := map[string]any{}
	for k, v := range want {
		params[k] = v
	}
	if err := restDo(ctx, http.MethodPatch, restURL(n.Address, "/config"), map[string]any{"postgresql": map[string]any{"parameters": params}}, nil); err != nil {
		return fmt.Errorf("cannot set the cluster parameters: %w", err)
	}
	var st struct {
		PendingRestart bool `json:"pending_restart"`
	}
	if err := restDo(ctx, http.MethodGet, restURL(n.Address, "/patroni"), nil, &st); err == nil && st.PendingRestart {
		if err := restDo(ctx, http.MethodPost, restURL(n.Address, "/restart"), map[string]any{"restart_pending": true}, nil); err != nil {
			return fmt.Errorf("cannot restart PostgreSQL for changed parameters: %w", err)
		}
	}
	return nil
}
