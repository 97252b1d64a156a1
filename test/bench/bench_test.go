// Package bench measures the product on the local platform (real
// kube-apiserver, Crossplane core, our provider and function as processes,
// the vCenter simulator, namespace guests running PostgreSQL): provisioning
// time by phase, composing 1,000 XDatabases, the provider's footprint with
// 1,000 VirtualMachines and 1,000 Users, and the CRDs we install. These are
// benchmarks, run by `make bench` (hack/bench.sh), which writes
// bench/results.md; `go test` alone starts nothing here.
package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/quorumdb/quorum/cluster/local"
	"github.com/quorumdb/quorum/cluster/local/localtest"
	"github.com/quorumdb/quorum/internal/engine/postgresql/pgtest"
)

var platform *local.Platform

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	flag.Parse()
	if flag.Lookup("test.bench").Value.String() == "" {
		// Plain `go test ./...`: no benchmark asked for, no platform.
		os.Exit(m.Run())
	}
	localtest.Main(m, &platform)
}

// report appends a line to the results summary hack/bench.sh collects.
func report(format string, a ...any) {
	if out := os.Getenv("QUORUM_BENCH_OUT"); out != "" {
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644) //nolint:gosec // A results file.
		if err == nil {
			_, _ = fmt.Fprintf(f, format+"\n", a...)
			_ = f.Close()
		}
	}
}

// kube is a client of the platform with the XDatabase API installed.
func kube(b *testing.B) client.Client {
	b.Helper()
	c, err := platform.Client()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, f := range []string{"xdatabase/xrd.yaml", "xdatabase/composition.yaml", "legacy/xrd.yaml", "legacy/composition.yaml"} {
		raw, err := os.ReadFile(filepath.Join(localtest.Root(), "compositions", f))
		if err != nil {
			b.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &u.Object); err != nil {
			b.Fatal(err)
		}
		if err := c.Create(ctx, u); err != nil && !kerrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
	}
	// Crossplane core generates the XRD's CRD; a fresh client sees it.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if c, err = platform.Client(); err != nil {
			b.Fatal(err)
		}
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("platform.quorum.dev/v1alpha1")
		l.SetKind("XDatabaseList")
		if err = c.List(ctx, l); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			b.Fatalf("XDatabase API not served: %v", err)
		}
	}
}

func namespace(b *testing.B, c client.Client, name string) {
	b.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !kerrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
}

// pid is a platform component's process.
func pid(b *testing.B, component string) int {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join(platform.StateDir, "run", component+".pid"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// proc reads a process's resident memory now and at its peak (MiB) and
// its CPU time so far (s).
func proc(p int) (rss, peak, cpu float64) {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
	for _, l := range strings.Split(string(status), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseFloat(f[1], 64)
			if f[0] == "VmRSS:" {
				rss = kb / 1024
			} else {
				peak = kb / 1024
			}
		}
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
		f := strings.Fields(string(stat)[i+1:])
		if len(f) > 13 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			cpu = (ut + st) / 100 // USER_HZ
		}
	}
	return rss, peak, cpu
}

// rssSplit says how much of a process's RSS is its own memory (anonymous:
// heap, stacks) and how much the executable's and libraries' pages mapped
// from disk (file), which a smaller binary shrinks and GOMEMLIMIT does not.
func rssSplit(p int) string {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
	var anon, file float64
	for _, l := range strings.Split(string(status), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "RssAnon:" || f[0] == "RssFile:") {
			kb, _ := strconv.ParseFloat(f[1], 64)
			if f[0] == "RssAnon:" {
				anon = kb / 1024
			} else {
				file = kb / 1024
			}
		}
	}
	return fmt.Sprintf("anonymous %.0fMiB, file-backed %.0fMiB", anon, file)
}

// userReconciles is the provider's count of User reconciles so far.
func userReconciles(b *testing.B) float64 {
	b.Helper()
	return providerMetric(b, "controller_runtime_reconcile_total{", `controller="managed/user.db.m.quorum.dev"`)
}

// apiWrites is the kube-apiserver's count of write requests so far
// (POST, PUT, PATCH, DELETE, from its own metrics).
func apiWrites(b *testing.B) float64 {
	b.Helper()
	st, err := platform.ReadState()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var n float64
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(l, "apiserver_request_total{") {
			continue
		}
		for _, v := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="DELETE"`, `verb="APPLY"`} {
			if strings.Contains(l, v) {
				x, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
				n += x
			}
		}
	}
	return n
}

// providerWrites is the provider's own count of write requests to the API
// server so far (client-go's rest_client_requests_total, from its metrics
// endpoint).
func providerWrites(b *testing.B) float64 {
	b.Helper()
	return providerMetric(b, "rest_client_requests_total{", `method="POST"`, `method="PUT"`, `method="PATCH"`, `method="DELETE"`)
}

// providerMetric sums the provider's metric lines with the prefix that
// contain any of the markers.
func providerMetric(b *testing.B, prefix string, any ...string) float64 {
	b.Helper()
	st, err := platform.ReadState()
	if err != nil {
		b.Fatal(err)
	}
	rsp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", st.Ports["provider-metrics"]))
	if err != nil {
		b.Fatal(err)
	}
	defer rsp.Body.Close() //nolint:errcheck // Read only.
	raw, err := io.ReadAll(rsp.Body)
	if err != nil {
		b.Fatal(err)
	}
	var n float64
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		for _, v := range any {
			if strings.Contains(l, v) {
				x, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
				n += x
				break
			}
		}
	}
	return n
}

// BenchmarkSteadyState measures what a steady-state reconcile costs the API
// server: 100 Users of a real PostgreSQL, all Ready and unchanged, observed
// at the platform's poll interval for a minute; the provider's requests
// (all verbs, and writes) divided by the User reconciles meanwhile.
func BenchmarkSteadyState(b *testing.B) {
	const count = 100
	c := kube(b)
	ns := "bench-steady"
	namespace(b, c, ns)
	adminFor(b, c, ns, pgtest.Start(b))
	createAll(b, c, count, func(i int) client.Object { return user(ns, fmt.Sprintf("s%03d", i), fmt.Sprintf("steady_%03d", i)) })
	if _, ready := waitAll(b, c, "db.m.quorum.dev/v1alpha1", "User", ns, count, 5*time.Minute); ready < count {
		b.Fatalf("%d of %d Users Ready", ready, count)
	}
	time.Sleep(20 * time.Second) // creation's requeues settle
	for range b.N {
		all0, w0 := providerMetric(b, "rest_client_requests_total{", "method="), providerWrites(b)
		r0 := providerMetric(b, "controller_runtime_reconcile_total{", "user.db.m.quorum.dev")
		time.Sleep(time.Minute)
		all1, w1 := providerMetric(b, "rest_client_requests_total{", "method="), providerWrites(b)
		r1 := providerMetric(b, "controller_runtime_reconcile_total{", "user.db.m.quorum.dev")
		if r1 == r0 {
			b.Fatal("no User reconciled in a minute")
		}
		per, wper := (all1-all0)/(r1-r0), (w1-w0)/(r1-r0)
		b.ReportMetric(per, "api-requests/reconcile")
		b.ReportMetric(wper, "api-writes/reconcile")
		report("steady state: %d Users, %.0f reconciles in 60s, %.2f API requests per reconcile (%.2f writes)", count, r1-r0, per, wper)
	}
}

func object(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     spec,
	}}
}

func condition(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

func list(b *testing.B, c client.Client, apiVersion, kind, ns string) []unstructured.Unstructured {
	b.Helper()
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion(apiVersion)
	l.SetKind(kind + "List")
	if err := c.List(context.Background(), l, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	return l.Items
}

// apiVersion of our managed resource kinds.
func apiVersion(kind string) string {
	if kind == "VirtualMachine" {
		return "compute.m.quorum.dev/v1alpha1"
	}
	return "db.m.quorum.dev/v1alpha1"
}

func median(d []float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkCRDs reports the CRDs our packages install (provider managed
// resources and configuration, and the XRDs' composite and claim kinds)
// and kube-apiserver's memory with them installed.
func BenchmarkCRDs(b *testing.B) {
	c := kube(b)
	for range b.N {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("apiextensions.k8s.io/v1")
		l.SetKind("CustomResourceDefinitionList")
		if err := c.List(context.Background(), l); err != nil {
			b.Fatal(err)
		}
		var provider, xr int
		for _, crd := range l.Items {
			group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
			switch {
			case group == "compute.m.quorum.dev" || group == "db.m.quorum.dev" || group == "quorum.dev":
				provider++
			case group == "platform.quorum.dev":
				xr++
			}
		}
		rss, _, _ := proc(pid(b, "kube-apiserver"))
		b.ReportMetric(float64(provider), "provider-crds")
		b.ReportMetric(float64(xr), "xr-crds")
		b.ReportMetric(rss, "apiserver-MiB")
		report("crds provider=%d xr-and-claim=%d total=%d apiserver-rss=%.0fMiB", provider, xr, provider+xr, rss)
	}
}

// BenchmarkProvisioning applies one XDatabase (PostgreSQL on vSphere) per
// iteration and measures, from the apply, when its VMs are Ready, its
// DatabaseNodes are Ready (the cluster runs), its Users and Databases are
// Ready, and the app's connection Secret first takes a write. Each database
// is deleted (without a final backup) before the next.
func BenchmarkProvisioning(b *testing.B) {
	for _, tier := range []struct {
		name  string
		nodes int
	}{{"dev", 1}, {"ha", 3}} {
		b.Run(tier.name, func(b *testing.B) {
			c := kube(b)
			ns := "bench-provisioning"
			namespace(b, c, ns)
			phases := map[string][]float64{}
			for i := range b.N {
				name := fmt.Sprintf("prov-%s-%d-%d", tier.name, time.Now().Unix()%100000, i)
				at := provisionOnce(b, c, ns, name, tier.name, tier.nodes)
				for k, v := range at {
					phases[k] = append(phases[k], v)
				}
				b.Logf("%s: %v", name, at)
			}
			for _, k := range []string{"vms", "nodes", "users", "writable"} {
				b.ReportMetric(median(phases[k]), "s-"+k)
			}
			report("provisioning tier=%s runs=%d median-s vms=%.1f nodes=%.1f users=%.1f writable=%.1f; writable min=%.1f max=%.1f",
				tier.name, len(phases["writable"]), median(phases["vms"]), median(phases["nodes"]), median(phases["users"]), median(phases["writable"]),
				slices.Min(phases["writable"]), slices.Max(phases["writable"]))
		})
	}
}

func provisionOnce(b *testing.B, c client.Client, ns, name, tier string, nodes int) map[string]float64 {
	b.Helper()
	ctx := context.Background()
	xr := object("platform.quorum.dev/v1alpha1", "XDatabase", ns, name, map[string]any{
		"engine": "postgresql", "version": "15", "tier": tier, "size": "small", "storageGB": int64(20), "platform": "vsphere", "skipFinalBackup": true,
	})
	start := time.Now()
	if err := c.Create(ctx, xr); err != nil {
		b.Fatal(err)
	}
	at := map[string]float64{}
	mark := func(k string) {
		if _, ok := at[k]; !ok {
			at[k] = time.Since(start).Seconds()
		}
	}
	allReady := func(kind string, prefix string, want int) bool {
		n := 0
		for _, o := range list(b, c, apiVersion(kind), kind, ns) {
			if strings.HasPrefix(o.GetName(), prefix) && condition(&o, "Ready") {
				n++
			}
		}
		return n >= want
	}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%s not writable after 5 minutes (phases so far %v)", name, at)
		}
		if _, ok := at["vms"]; !ok && allReady("VirtualMachine", name+"-", nodes) {
			mark("vms")
		}
		if _, ok := at["nodes"]; !ok && allReady("DatabaseNode", name+"-", nodes) {
			mark("nodes")
		}
		if _, ok := at["users"]; !ok && allReady("User", name+"-", 1) && allReady("Database", name+"-", 1) {
			mark("users")
		}
		sec := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-connection"}, sec); err != nil || len(sec.Data["uri"]) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		conn, err := pgx.Connect(cctx, string(sec.Data["uri"]))
		if err == nil {
			_, err = conn.Exec(cctx, "CREATE TABLE IF NOT EXISTS bench (v int); INSERT INTO bench VALUES (1)")
			_ = conn.Close(cctx)
		}
		cancel()
		if err == nil {
			mark("writable")
			break
		}
	}
	for _, k := range []string{"vms", "nodes", "users"} {
		if _, ok := at[k]; !ok {
			at[k] = at["writable"]
		}
	}
	if err := c.Delete(ctx, xr); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		left := 0
		for _, k := range []string{"VirtualMachine", "DatabaseNode"} {
			for _, o := range list(b, c, apiVersion(k), k, ns) {
				if strings.HasPrefix(o.GetName(), name+"-") {
					left++
				}
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d resources left 3 minutes after delete", name, left)
		}
	}
	return at
}

// BenchmarkCompose1000 applies 1,000 XDatabases (tier dev) at once and
// measures the time until Crossplane core has run the function for every
// one and composed its resources (Synced, with resources referenced), and
// the CPU time and peak memory of Crossplane core, kube-apiserver and the
// function. The provider is stopped (SIGSTOP) meanwhile: this measures
// composition, not the thousand PostgreSQL servers it would start.
func BenchmarkCompose1000(b *testing.B) {
	const count = 1000
	c := kube(b)
	ns := "bench-compose"
	namespace(b, c, ns)
	provider := pid(b, "provider")
	if err := syscall.Kill(provider, syscall.SIGSTOP); err != nil {
		b.Fatal(err)
	}
	defer syscall.Kill(provider, syscall.SIGCONT) //nolint:errcheck // Best effort.
	components := []string{"crossplane", "kube-apiserver", "function"}
	cpu0 := map[string]float64{}
	for _, comp := range components {
		_, _, cpu0[comp] = proc(pid(b, comp))
	}
	for range b.N {
		start := time.Now()
		createAll(b, c, count, func(i int) client.Object {
			return object("platform.quorum.dev/v1alpha1", "XDatabase", ns, fmt.Sprintf("s%04d", i), map[string]any{
				"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": int64(20), "platform": "vsphere",
			})
		})
		applied := time.Since(start)
		var composed int
		for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
			composed = 0
			for _, o := range list(b, c, "platform.quorum.dev/v1alpha1", "XDatabase", ns) {
				refs, _, _ := unstructured.NestedSlice(o.Object, "spec", "crossplane", "resourceRefs")
				if condition(&o, "Synced") && len(refs) > 0 {
					composed++
				}
			}
			if composed == count || time.Now().After(deadline) {
				break
			}
		}
		took := time.Since(start)
		logs, _ := os.ReadFile(filepath.Join(platform.StateDir, "logs", "crossplane.log"))
		deadlines := strings.Count(string(logs), "DeadlineExceeded") + strings.Count(string(logs), "deadline exceeded")
		var summary []string
		for _, comp := range components {
			_, peak, cpu := proc(pid(b, comp))
			summary = append(summary, fmt.Sprintf("%s cpu=%.0fs peak-rss=%.0fMiB", comp, cpu-cpu0[comp], peak))
		}
		b.ReportMetric(took.Seconds(), "s-all-composed")
		b.ReportMetric(float64(composed), "composed")
		b.ReportMetric(float64(deadlines), "deadline-exceeded")
		report("compose count=%d applied-in=%.1fs all-composed-in=%.1fs composed=%d function-deadline-exceeded=%d; %s",
			count, applied.Seconds(), took.Seconds(), composed, deadlines, strings.Join(summary, "; "))
		if composed != count {
			b.Errorf("%d of %d XDatabases composed after 10 minutes", composed, count)
		}
		if err := c.DeleteAllOf(context.Background(), &unstructured.Unstructured{Object: map[string]any{"apiVersion": "platform.quorum.dev/v1alpha1", "kind": "XDatabase"}}, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Minute); len(list(b, c, "platform.quorum.dev/v1alpha1", "XDatabase", ns)) > 0; time.Sleep(time.Second) {
			if time.Now().After(deadline) {
				b.Fatal("XDatabases left 5 minutes after deleting them")
			}
		}
	}
}

// waitAll waits until count objects of the kind in ns are Ready and
// returns when that happened, or how many were Ready at the deadline.
func waitAll(b *testing.B, c client.Client, apiVersion, kind, ns string, count int, limit time.Duration) (time.Duration, int) {
	b.Helper()
	start := time.Now()
	ready := 0
	for deadline := start.Add(limit); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		ready = 0
		for _, o := range list(b, c, apiVersion, kind, ns) {
			if condition(&o, "Ready") {
				ready++
			}
		}
		if ready >= count {
			return time.Since(start), ready
		}
	}
	return time.Since(start), ready
}

// adminFor writes the admin connection Secret "admin" for a PostgreSQL
// server, as a DatabaseNode publishes it.
func adminFor(b *testing.B, c client.Client, ns string, pg *pgtest.Server) {
	b.Helper()
	if err := c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "admin"}, StringData: map[string]string{
		"engine": "postgresql", "hosts": pg.Host, "port": strconv.Itoa(pg.Port), "username": pg.AdminUser, "password": pg.AdminPassword,
	}}); err != nil && !kerrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
}

// user is a User of the server behind the Secret "admin".
func user(ns, name, login string) client.Object {
	return object("db.m.quorum.dev/v1alpha1", "User", ns, name, map[string]any{
		"providerConfigRef":          map[string]any{"kind": "ClusterProviderConfig", "name": "default"},
		"writeConnectionSecretToRef": map[string]any{"name": name + "-connection"},
		"forProvider":                map[string]any{"admin": map[string]any{"secretRef": map[string]any{"name": "admin"}}, "name": login},
	})
}

// createAll creates count objects with 16 concurrent clients.
func createAll(b *testing.B, c client.Client, count int, obj func(i int) client.Object) {
	b.Helper()
	work := make(chan int)
	errs := make(chan error, count)
	for range 16 {
		go func() {
			for i := range work {
				errs <- c.Create(context.Background(), obj(i))
			}
		}()
	}
	for i := range count {
		work <- i
	}
	close(work)
	for range count {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProvider measures the provider: its memory idle, then with
// 1,000 Users of a real PostgreSQL (time to all Ready, kube-apiserver writes
// per User), then with 1,000 VirtualMachines more on a second vCenter
// simulator (time to all Ready).
func BenchmarkProvider(b *testing.B) {
	const count = 1000
	c := kube(b)
	provider := pid(b, "provider")
	idle, _, _ := proc(provider)
	idleSplit := rssSplit(provider)
	b.ReportMetric(idle, "idle-MiB")

	// 1,000 Users.
	ns := "bench-users"
	namespace(b, c, ns)
	adminFor(b, c, ns, pgtest.Start(b))
	writes0, own0 := apiWrites(b), providerWrites(b)
	rec0, conflicts0 := userReconciles(b), providerMetric(b, "rest_client_requests_total{", `code="409"`)
	start := time.Now()
	createAll(b, c, count, func(i int) client.Object { return user(ns, fmt.Sprintf("u%04d", i), fmt.Sprintf("app_user_%04d", i)) })
	_, ready := waitAll(b, c, "db.m.quorum.dev/v1alpha1", "User", ns, count, 10*time.Minute)
	usersTook := time.Since(start) // from the first create
	// Writes settle: the last statuses land after Ready is seen.
	time.Sleep(5 * time.Second)
	perUser := (apiWrites(b) - writes0) / count
	// The create itself, then what the provider wrote.
	ownPerUser := 1 + (providerWrites(b)-own0)/count
	recPerUser := (userReconciles(b) - rec0) / count
	conflictsPerUser := (providerMetric(b, "rest_client_requests_total{", `code="409"`) - conflicts0) / count
	rssUsers, peakUsers, _ := proc(provider)
	b.ReportMetric(usersTook.Seconds(), "s-1000-users-ready")
	b.ReportMetric(ownPerUser, "api-writes/user")
	b.ReportMetric(rssUsers, "MiB-with-users")
	report("provider idle-rss=%.0fMiB (%s); 1000 users: ready=%d in %.1fs, api-writes-per-user=%.1f (the create and the provider's writes; %.1f counting every client's writes meanwhile), reconciles-per-user=%.1f, conflicts-per-user=%.2f, rss=%.0fMiB peak=%.0fMiB (%s)",
		idle, idleSplit, ready, usersTook.Seconds(), ownPerUser, perUser, recPerUser, conflictsPerUser, rssUsers, peakUsers, rssSplit(provider))
	if os.Getenv("QUORUM_BENCH_VMS") == "0" {
		if ready < count {
			b.Errorf("%d of %d Users Ready", ready, count)
		}
		return
	}

	// 1,000 VirtualMachines on a vCenter simulator of their own.
	vns := "bench-vms"
	namespace(b, c, vns)
	v := vcenter(b)
	creds, _ := json.Marshal(map[string]string{"username": v.Username, "password": v.Password})
	if err := c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: vns, Name: "vcenter"}, Data: map[string][]byte{"credentials": creds}}); err != nil && !kerrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	pc := object("quorum.dev/v1alpha1", "ProviderConfig", vns, "bench", map[string]any{
		"credentials": map[string]any{"source": "Secret", "secretRef": map[string]any{"namespace": vns, "name": "vcenter", "key": "credentials"}},
		"vsphere":     map[string]any{"url": v.URL, "thumbprint": v.Thumbprint, "datacenter": "DC0"},
	})
	if err := c.Create(context.Background(), pc); err != nil && !kerrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	start = time.Now()
	createAll(b, c, count, func(i int) client.Object {
		return object("compute.m.quorum.dev/v1alpha1", "VirtualMachine", vns, fmt.Sprintf("vm%04d", i), map[string]any{
			"providerConfigRef":          map[string]any{"kind": "ProviderConfig", "name": "bench"},
			"writeConnectionSecretToRef": map[string]any{"name": fmt.Sprintf("vm%04d-ssh", i)},
			"forProvider": map[string]any{
				"cpus": int64(1), "memoryMiB": int64(1024), "osDiskGiB": int64(10),
				"network": map[string]any{"network": "VM Network", "ipAddress": fmt.Sprintf("10.78.%d.%d", i/200, 10+i%200), "prefixLength": int64(16), "gateway": "10.78.0.1"},
				"vsphere": map[string]any{"template": "debian-12", "datacenter": "DC0", "cluster": "DC0_C0", "datastore": "LocalDS_0"},
			},
		})
	})
	_, vmsReady := waitAll(b, c, "compute.m.quorum.dev/v1alpha1", "VirtualMachine", vns, count, 15*time.Minute)
	vmsTook := time.Since(start)
	rss, peak, _ := proc(provider)
	b.ReportMetric(vmsTook.Seconds(), "s-1000-vms-ready")
	b.ReportMetric(rss, "MiB-with-users-and-vms")
	report("provider with 1000 users and 1000 VMs: vms ready=%d in %.1fs, rss=%.0fMiB peak=%.0fMiB (%s)", vmsReady, vmsTook.Seconds(), rss, peak, rssSplit(provider))
	if ready < count || vmsReady < count {
		b.Errorf("%d of %d Users and %d of %d VirtualMachines Ready", ready, count, vmsReady, count)
	}
}

// BenchmarkAddresses200 creates 200 VirtualMachines in 50 namespaces at
// once, each asking the provider for an address from one range (as the
// Composition's vSphere pool makes the function do for 200 dev
// XDatabases), on a vCenter simulator of its own so that no guest boots.
// It reports the time until every VM is Ready with its address and fails if
// two share one; then it deletes them all and fails if a lease is left.
func BenchmarkAddresses200(b *testing.B) {
	const count, namespaces = 200, 50
	c := kube(b)
	ctx := context.Background()
	v := vcenter(b)
	creds, _ := json.Marshal(map[string]string{"username": v.Username, "password": v.Password})
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "crossplane-system", Name: "bench-addresses-vcenter"}, Data: map[string][]byte{"credentials": creds}}); err != nil && !kerrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	pc := object("quorum.dev/v1alpha1", "ClusterProviderConfig", "", "bench-addresses", map[string]any{
		"credentials": map[string]any{"source": "Secret", "secretRef": map[string]any{"namespace": "crossplane-system", "name": "bench-addresses-vcenter", "key": "credentials"}},
		"vsphere":     map[string]any{"url": v.URL, "thumbprint": v.Thumbprint, "datacenter": "DC0"},
	})
	if err := c.Create(ctx, pc); err != nil && !kerrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	ns := func(i int) string { return fmt.Sprintf("bench-addr-%02d", i%namespaces) }
	for i := range namespaces {
		namespace(b, c, ns(i))
	}
	for range b.N {
		start := time.Now()
		createAll(b, c, count, func(i int) client.Object {
			vm := object("compute.m.quorum.dev/v1alpha1", "VirtualMachine", ns(i), fmt.Sprintf("db%03d-0", i), map[string]any{
				"providerConfigRef": map[string]any{"kind": "ClusterProviderConfig", "name": "bench-addresses"},
				"forProvider": map[string]any{
					"cpus": int64(1), "memoryMiB": int64(1024), "osDiskGiB": int64(10),
					"network": map[string]any{"network": "VM Network", "prefixLength": int64(16), "gateway": "10.78.0.1",
						"addressRange": map[string]any{"first": "10.78.0.16", "last": "10.78.3.254"}},
					"vsphere": map[string]any{"template": "debian-12", "datacenter": "DC0", "cluster": "DC0_C0", "datastore": "LocalDS_0"},
				},
			})
			vm.SetLabels(map[string]string{"bench": "addresses"})
			return vm
		})
		var vms []unstructured.Unstructured
		ready := 0
		for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			vms, ready = nil, 0
			for _, o := range list(b, c, "compute.m.quorum.dev/v1alpha1", "VirtualMachine", "") {
				if o.GetLabels()["bench"] == "addresses" {
					vms = append(vms, o)
					if condition(&o, "Ready") {
						ready++
					}
				}
			}
			if ready >= count {
				break
			}
		}
		took := time.Since(start)
		holder := map[string]string{}
		dup := 0
		for _, o := range vms {
			a, _, _ := unstructured.NestedString(o.Object, "spec", "forProvider", "network", "ipAddress")
			if prev, ok := holder[a]; ok {
				b.Errorf("%s is held by %s and %s/%s", a, prev, o.GetNamespace(), o.GetName())
				dup++
			}
			holder[a] = o.GetNamespace() + "/" + o.GetName()
		}
		b.ReportMetric(took.Seconds(), "s-200-vms-addressed")
		b.ReportMetric(float64(len(holder)), "distinct-addresses")
		// Deleted, every address is released.
		for _, o := range vms {
			if err := c.Delete(ctx, &o); err != nil && !kerrors.IsNotFound(err) {
				b.Fatal(err)
			}
		}
		left := -1
		for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			l := list(b, c, "quorum.dev/v1alpha1", "AddressLease", "")
			left = 0
			for _, le := range l {
				if ns, _, _ := unstructured.NestedString(le.Object, "spec", "holder", "namespace"); strings.HasPrefix(ns, "bench-addr-") {
					left++
				}
			}
			if left == 0 {
				break
			}
		}
		released := time.Since(start) - took
		report("addresses: %d VMs of %d namespaces on one range: ready=%d in %.1fs, distinct addresses=%d, shared=%d; deleted, leases left=%d after %.1fs",
			count, namespaces, ready, took.Seconds(), len(holder), dup, left, released.Seconds())
		if ready < count || len(holder) != count || left != 0 {
			b.Errorf("%d of %d VMs Ready, %d distinct addresses, %d leases left", ready, count, len(holder), left)
		}
	}
}

// simVCenter is a vCenter simulator's endpoint and credentials.
type simVCenter struct{ URL, Thumbprint, Username, Password string }

// vcenter starts a vCenter simulator of the benchmark's own (no guest
// agent behind it, so its VMs boot nothing) until the benchmark ends.
func vcenter(b *testing.B) simVCenter {
	b.Helper()
	endpoint := filepath.Join(b.TempDir(), "vcenter.json")
	sim := exec.Command(localtest.Bin("quorum-vcsim"), "--out", endpoint)
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	var v simVCenter
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		raw, err := os.ReadFile(endpoint)
		if err == nil && json.Unmarshal(raw, &v) == nil && v.URL != "" {
			return v
		}
		if time.Now().After(deadline) {
			b.Fatal("the vCenter simulator did not start")
		}
	}
}
