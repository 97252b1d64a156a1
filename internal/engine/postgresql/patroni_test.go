package postgresql

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/cluster/localdc"
	"github.com/quorumdb/quorum/internal/engine/host/hosttest"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/guestkeys"
	"github.com/quorumdb/quorum/internal/sshexec"
)

const adminPassword = "adm1n-Pw-for-tests"

type testCluster struct {
	dc      *localdc.DC
	base    string
	nodes   []Node
	targets []sshexec.Target
}

// newCluster starts three namespace guests with sshd and applies a Patroni
// node to each over SSH, as the DatabaseNode controller does.
func newCluster(t testing.TB, replication string) *testCluster {
	t.Helper()
	return newClusterWith(t, replication, nil)
}

// newClusterWith is newCluster with each node adjusted before it is applied.
func newClusterWith(t testing.TB, replication string, adjust func(base string, n *Node)) *testCluster {
	t.Helper()
	if err := localdc.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local datacenter unavailable: %v", err)
		}
		t.Skipf("local datacenter unavailable: %v", err)
	}
	ctx := context.Background()
	base, err := os.MkdirTemp("", "quorum-pg-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(base, 0o755) // postgres must traverse it.
	// Guests are machines of their own: their own /tmp (where node
	// directories are), nothing of base in view; repositories are in the
	// object store on the gateway.
	dc := &localdc.DC{Prefix: "qp", Gateway: netip.MustParsePrefix("10.79.0.1/24"), Dir: filepath.Join(base, "dc"), Isolated: true, Hide: []string{base}}
	if err := dc.Up(ctx); err != nil {
		t.Fatal(err)
	}
	startStore(t, base, dc.Gateway.Addr().String())
	t.Cleanup(func() {
		if err := dc.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		_ = os.RemoveAll(base)
	})
	tc := &testCluster{dc: dc, base: base}
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			_ = os.RemoveAll(SocketDir(n.BaseDir))
		}
	})
	tc.addNodes(t, "orders", 3, 10, replication, adjust)
	return tc
}

// another starts a second cluster of count nodes in the same datacenter,
// its hosts numbered from 10.79.0.<first>.
func (tc *testCluster) another(t testing.TB, name string, count, first int, replication string, adjust func(base string, n *Node)) *testCluster {
	t.Helper()
	o := &testCluster{dc: tc.dc, base: tc.base}
	t.Cleanup(func() {
		for _, n := range o.nodes {
			_ = os.RemoveAll(SocketDir(n.BaseDir))
		}
	})
	o.addNodes(t, name, count, first, replication, adjust)
	return o
}

func (tc *testCluster) addNodes(t testing.TB, cluster string, count, first int, replication string, adjust func(base string, n *Node)) {
	t.Helper()
	ctx := context.Background()
	var members []Member
	for i := range count {
		members = append(members, Member{Name: fmt.Sprintf("%s-%d", cluster, i), Address: fmt.Sprintf("10.79.0.%d", first+i)})
	}
	for _, m := range members {
		k, err := guestkeys.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.dc.Add(ctx, localdc.Guest{Name: m.Name, Address: netip.MustParseAddr(m.Address), HostKey: k.HostPrivate, AuthorizedKey: k.LoginPublic}); err != nil {
			t.Fatal(err)
		}
		tc.targets = append(tc.targets, sshexec.Target{Host: m.Address, PrivateKey: k.LoginPrivate, HostKey: k.HostPublic})
		tc.nodes = append(tc.nodes, Node{
			Cluster: cluster, Name: m.Name, Address: m.Address, Members: members, Port: 5432, Replication: replication,
			BinDir: "/usr/lib/postgresql/15/bin", BaseDir: filepath.Join(tc.base, "nodes", m.Name),
			AdminUser: "quorum_admin", AdminPassword: adminPassword, ReplicationPassword: "repl-Pw-for-tests", MemoryMiB: 512,
		})
		if adjust != nil {
			adjust(tc.base, &tc.nodes[len(tc.nodes)-1])
		}
	}
	tc.applyAll(t)
}

func (tc *testCluster) applyAll(t testing.TB) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(tc.nodes))
	for i := range tc.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := sshexec.Dial(context.Background(), tc.targets[i], adminPassword)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close() //nolint:errcheck // Test.
			errs[i] = Apply(context.Background(), c, tc.nodes[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitHealthy waits for one primary and the other members streaming and,
// with synchronous replication, for Patroni to have recorded a synchronous
// standby (until it has, no member may take over from the primary).
func (tc *testCluster) waitHealthy(t testing.TB, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		primary, streaming, sync := "", 0, false
		for _, n := range tc.nodes {
			st, members, err := Observe(context.Background(), n.Address)
			if err != nil {
				continue
			}
			if st.Role == "primary" && st.State == "running" {
				primary = n.Address
				for _, m := range members {
					if m.Role != "primary" && (m.State == "streaming" || m.State == "running") {
						streaming++
						sync = sync || m.Role == "sync_standby"
					}
				}
			}
		}
		if primary != "" && streaming == len(tc.nodes)-1 && (sync || tc.nodes[0].Replication != "sync" || len(tc.nodes) == 1) {
			return primary
		}
		if time.Now().After(deadline) {
			tc.dumpLogs(t)
			t.Fatalf("cluster not healthy after %s (primary %q, %d replicas streaming, synchronous standby recorded: %v)", timeout, primary, streaming, sync)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// dumpLogs logs the tail of each node's Patroni and sentinel logs, for a
// failure's diagnosis.
func (tc *testCluster) dumpLogs(t testing.TB) {
	t.Helper()
	for _, n := range tc.nodes {
		for _, f := range []string{"patroni.log", "patroni.out", "sentinel.log"} {
			t.Logf("%s %s tail:\n%s", n.Name, f, tailStr(guestFile(tc.dc, n.Name, filepath.Join(n.BaseDir, "log", f)), 3000))
		}
	}
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func psql(host, sql string) (string, error) {
	cmd := exec.Command("psql", "-h", host, "-U", "quorum_admin", "-d", "postgres", "-tAc", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+adminPassword, "PGCONNECT_TIMEOUT=2")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestClusterForms: three namespace hosts become a Patroni cluster of real
// PostgreSQL 15; a write on the primary is visible on both replicas.
func TestClusterForms(t *testing.T) {
	tc := newCluster(t, "sync")
	primary := tc.waitHealthy(t, 90*time.Second)
	if _, err := psql(primary, "CREATE TABLE t (v text); INSERT INTO t VALUES ('hello')"); err != nil {
		t.Fatalf("write on primary: %v", err)
	}
	for _, n := range tc.nodes {
		if n.Address == primary {
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := psql(n.Address, "SELECT v FROM t")
			if err == nil && out == "hello" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s does not see the write: %q %v", n.Name, out, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if out, _ := psql(n.Address, "SELECT pg_is_in_recovery()"); out != "t" {
			t.Errorf("%s should be a replica in recovery, got %q", n.Name, out)
		}
	}
	// Applying again changes nothing and keeps the cluster healthy.
	tc.applyAll(t)
	if p := tc.waitHealthy(t, 10*time.Second); p != primary {
		t.Errorf("re-applying moved the primary from %s to %s", primary, p)
	}

	// The running values of restart-only parameters are read from the
	// server: equal ones, written in another unit, are no drift; a wanted
	// shared_buffers the server does not run with is.
	h, n := tc.dial(t, primary)
	if d := restartDrift(context.Background(), h, n); d != "" {
		t.Errorf("restartDrift of a node running as configured: %q", d)
	}
	cases := map[string]struct {
		params map[string]string
		want   string
	}{
		"SameSizeOtherUnit": {params: map[string]string{"max_connections": "200", "wal_log_hints": "true"}, want: ""},
		"OtherSize":         {params: map[string]string{"shared_buffers": "1GB"}, want: "PostgreSQL runs with shared_buffers=128MB and needs a restart for the wanted value"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := n
			m.Parameters = c.params
			if got := restartDrift(context.Background(), h, m); got != c.want {
				t.Errorf("restartDrift(%v) = %q, want %q", c.params, got, c.want)
			}
		})
	}
}

// TestApplyStepsAndInstall pins the node's steps in order and the package
// installation for both families (run for real only where packages are
// missing, which is never the case here).
func TestApplyStepsAndInstall(t *testing.T) {
	n := Node{Cluster: "db", Name: "db-0", Address: "10.0.0.10", Port: 5432, BinDir: "/usr/lib/postgresql/15/bin", BaseDir: "/q/db-0",
		Members: []Member{{Name: "db-0", Address: "10.0.0.10"}}, AdminUser: AdminUser, AdminPassword: "pw1", ReplicationPassword: "pw2",
		TLS: &node.TLS{CA: []byte("CA"), Cert: []byte("CERT"), Key: []byte("KEY")}}
	h := hosttest.New()
	if err := Apply(context.Background(), h, n); err != nil {
		t.Fatal(err)
	}
	want := []string{"run install packages", "run link binaries", "run prepare directories",
		"write /q/db-0/tls/server.crt 600 postgres:postgres", "write /q/db-0/tls/server.key 600 postgres:postgres", "write /q/db-0/tls/ca.crt 600 postgres:postgres",
		"write /q/db-0/patroni.yml 600 postgres:postgres", "run reload patroni", "run start etcd", "run start patroni",
		"write /q/db-0/sentinel.sh 644 root:root", "run stop sentinel for its new script", "run start sentinel"}
	if diff := cmp.Diff(want, h.Log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	inst := h.Commands["install packages"]
	for _, s := range []string{
		"test -x /usr/lib/postgresql/15/bin/postgres || test -x /usr/pgsql-15/bin/postgres",
		"echo 'create_main_cluster = false'",
		`if [ -n "${QUORUM_SHARED_HOST:-}" ]; then`,
		"apt-get install -y -q --no-install-recommends postgresql-15 patroni etcd-server curl procps",
		"pgdg-redhat-repo-latest.noarch.rpm", "$(rpm -E %rhel)",
		"dnf install -y -q postgresql15-server patroni patroni-etcd etcd curl procps-ng",
	} {
		if !strings.Contains(inst, s) {
			t.Errorf("install script lacks %q", s)
		}
	}
	if got := h.Commands["link binaries"]; !strings.Contains(got, "for d in /usr/lib/postgresql/15/bin /usr/pgsql-15/bin; do") {
		t.Errorf("link binaries: %s", got)
	}
	conf := string(h.Files["/q/db-0/patroni.yml"])
	for _, s := range []string{"bin_dir: /q/db-0/bin", `ssl: "on"`, "- hostssl all all 0.0.0.0/0 scram-sha-256", "- hostssl replication replicator 10.0.0.10/32 scram-sha-256", "- host all replicator 0.0.0.0/0 reject",
		"        max_connections: \"200\""} {
		if !strings.Contains(conf, s) {
			t.Errorf("patroni.yml lacks %q:\n%s", s, conf)
		}
	}
	if strings.Contains(conf, "- host all all 0.0.0.0/0") {
		t.Error("a non-TLS rule for clients remains with TLS on")
	}
}
