package databasenode

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/cluster/localdc"
	"github.com/quorumdb/quorum/internal/engine"
	"github.com/quorumdb/quorum/internal/engine/postgresql"
	"github.com/quorumdb/quorum/internal/guestkeys"
	"github.com/quorumdb/quorum/internal/sshexec"
)

// TestSingleNodeLifecycle drives one DatabaseNode on a namespace host: it is
// installed over SSH and becomes a running primary; the generated admin
// password reaches the connection details; a killed Patroni is detected as
// drift and repaired; a changed host key is refused.
func TestSingleNodeLifecycle(t *testing.T) {
	if err := localdc.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local datacenter unavailable: %v", err)
		}
		t.Skipf("local datacenter unavailable: %v", err)
	}
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "quorum-dn-")
	_ = os.Chmod(dir, 0o755)
	// The guest is a machine of its own: the node's files are in its own
	// /var/lib, out of this test's sight but over SSH.
	dc := &localdc.DC{Prefix: "qn", Gateway: netip.MustParsePrefix("10.80.0.1/24"), Dir: filepath.Join(dir, "dc"), Isolated: true}
	if err := dc.Up(ctx); err != nil {
		t.Fatal(err)
	}
	ns := "team-" + strconv.FormatInt(time.Now().UnixNano()%100000, 10)
	t.Cleanup(func() {
		if err := dc.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		_ = os.RemoveAll(postgresql.SocketDir(filepath.Join(BaseDir, ns, "db", "db-0")))
		_ = os.RemoveAll(filepath.Join(BaseDir, ns))
		_ = os.RemoveAll(dir)
	})
	k, _ := guestkeys.Generate()
	if err := dc.Add(ctx, localdc.Guest{Name: "db-0", Address: netip.MustParseAddr("10.80.0.10"), HostKey: k.HostPrivate, AuthorizedKey: k.LoginPublic}); err != nil {
		t.Fatal(err)
	}

	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-0-ssh"}, Data: map[string][]byte{"privateKey": k.LoginPrivate},
	}).Build()
	dn := &dbv1alpha1.DatabaseNode{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-0"},
		Spec: dbv1alpha1.DatabaseNodeSpec{ForProvider: dbv1alpha1.DatabaseNodeParameters{
			Engine: dbv1alpha1.PostgreSQL, Version: "15", Host: "10.80.0.10", Port: 5432,
			SSH:                    dbv1alpha1.SSHConnection{Port: 22, User: "root", PrivateKeySecretRef: dbv1alpha1.SecretKeySelector{Name: "db-0-ssh", Key: "privateKey"}, HostKey: k.HostPublic},
			Cluster:                dbv1alpha1.ClusterMembership{Name: "db", Members: []dbv1alpha1.Member{{Name: "db-0", Address: "10.80.0.10"}}, BootstrapRole: "primary", Replication: "none"},
			AdminPasswordSecretRef: dbv1alpha1.SecretKeySelector{Name: "db-admin-password", Key: "password"},
			MemoryMiB:              512,
			TLS:                    &dbv1alpha1.NodeTLS{CASecretRef: dbv1alpha1.LocalSecretReference{Name: "db-ca"}},
		}},
	}
	c := &connector{kube: kube, roles: engine.Nodes}
	e, err := c.Connect(ctx, dn)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer e.Disconnect(ctx) //nolint:errcheck // Test.

	obs, err := e.Observe(ctx, dn)
	if err != nil || obs.ResourceExists {
		t.Fatalf("Observe before install: want not exists, got %+v %v", obs, err)
	}
	if _, err := e.Create(ctx, dn); err != nil {
		t.Fatalf("Create: %v", err)
	}
	waitAvailable := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			obs, err = e.Observe(ctx, dn)
			if err == nil && obs.ResourceUpToDate && dn.GetCondition(xpv2.TypeReady).Status == corev1.ConditionTrue && dn.Status.AtProvider.Role == "primary" {
				return
			}
			if time.Now().After(deadline) {
				pid, _ := os.ReadFile(dc.PIDFile("db-0"))
				logs, _ := exec.Command("nsenter", "-t", strings.TrimSpace(string(pid)), "-m", "--", "sh", "-c", "tail -n 30 "+filepath.Join(BaseDir, ns, "db", "db-0", "log")+"/*").CombinedOutput()
				t.Fatalf("%s: not available after 60s: %+v, %v, %+v\n%s", what, dn.Status.AtProvider, err, dn.GetCondition(xpv2.TypeReady), logs)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	waitAvailable("after create")

	sec := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-admin-password"}, sec); err != nil {
		t.Fatal(err)
	}
	pw := string(sec.Data["password"])
	if len(pw) != 32 || string(obs.ConnectionDetails["password"]) != pw || string(obs.ConnectionDetails["hosts"]) != "10.80.0.10" {
		t.Errorf("admin password not generated or not published (len %d)", len(pw))
	}
	out, err := exec.Command("psql", "-h", "10.80.0.10", "-U", "quorum_admin", "-d", "postgres", "-tAc", "SELECT 1").CombinedOutput()
	if err == nil {
		t.Errorf("login without the password succeeded: %s", out)
	}
	// TLS: the server presents a certificate for its address signed by the
	// cluster's CA (verify-full passes); a connection without TLS is refused.
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, obs.ConnectionDetails["ca.crt"], 0o600); err != nil || len(obs.ConnectionDetails["ca.crt"]) == 0 {
		t.Fatalf("ca.crt not published: %v", err)
	}
	cmd := exec.Command("psql", "-h", "10.80.0.10", "-U", "quorum_admin", "-d", "postgres", "-tAc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGSSLMODE=verify-full", "PGSSLROOTCERT="+caFile)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "t" {
		t.Errorf("login with the generated password over verified TLS: %s %v", out, err)
	}
	cmd = exec.Command("psql", "-h", "10.80.0.10", "-U", "quorum_admin", "-d", "postgres", "-tAc", "SELECT 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGSSLMODE=disable")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no encryption") {
		t.Errorf("a connection without TLS: %s %v", out, err)
	}
	for _, st := range e.(*external).ssh.Steps() {
		if strings.Contains(fmt.Sprint(st), pw) {
			t.Errorf("a recorded SSH step contains the admin password: %s", st.Name)
		}
	}

	// Stop Patroni behind the provider's back: drift, then repair.
	pids, _ := exec.Command("ip", "netns", "pids", "qn-db-0").Output()
	for _, p := range strings.Fields(string(pids)) {
		pid, _ := strconv.Atoi(p)
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cl), "patroni") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	time.Sleep(200 * time.Millisecond)
	obs, err = e.Observe(ctx, dn)
	if err != nil || obs.ResourceUpToDate || !strings.Contains(dn.GetCondition(xpv2.TypeReady).Message, "patroni is not running") {
		t.Fatalf("want drift 'patroni is not running', got upToDate=%v %v %+v", obs.ResourceUpToDate, err, dn.GetCondition(xpv2.TypeReady))
	}
	if _, err := e.Update(ctx, dn); err != nil {
		t.Fatalf("Update (repair): %v", err)
	}
	waitAvailable("after repair")

	// Parameters changed on a running node: a local one is reloaded, a
	// cluster-wide one goes to the DCS and PostgreSQL is restarted for it.
	dn.Spec.ForProvider.Parameters = map[string]string{"work_mem": "8MB", "max_connections": "150"}
	e2, err := c.Connect(ctx, dn)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Disconnect(ctx) //nolint:errcheck // Test.
	show := func() string {
		cmd := exec.Command("psql", "-h", "10.80.0.10", "-U", "quorum_admin", "-d", "postgres", "-tAc", "SELECT current_setting('work_mem') || ' ' || current_setting('max_connections')")
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGSSLMODE=verify-full", "PGSSLROOTCERT="+caFile)
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	deadline := time.Now().Add(60 * time.Second)
	for show() != "8MB 150" {
		if obs, err := e2.Observe(ctx, dn); err == nil && obs.ResourceExists && !obs.ResourceUpToDate {
			if _, err := e2.Update(ctx, dn); err != nil {
				t.Logf("update: %v", err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("parameters not in force after 60s: %q", show())
		}
		time.Sleep(500 * time.Millisecond)
	}
	e = e2

	// A host presenting another key is refused.
	other, _ := guestkeys.Generate()
	dn2 := dn.DeepCopy()
	dn2.Spec.ForProvider.SSH.HostKey = other.HostPublic
	if _, err := c.Connect(ctx, dn2); !errors.Is(err, sshexec.ErrHostKeyMismatch) {
		t.Errorf("changed host key: want ErrHostKeyMismatch, got %v", err)
	}
	if _, err := e.Delete(ctx, dn); err != nil {
		t.Errorf("Delete: %v", err)
	}
}
