// Package render renders XDatabases through the real `crossplane composition
// render` and Crossplane core binary, with our function running in process,
// and compares the output with reviewed golden files: the whole matrix of
// engines, platforms and tiers, a provisioning progression fed by observed
// state, and a rolling resize step by step.
//
// After an intended change: go test ./test/render -update, then review the
// diff of test/render/testdata.
package render

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	function "github.com/crossplane/function-sdk-go"
	"github.com/crossplane/function-sdk-go/logging"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/quorumdb/quorum/cluster/local/localtest"
	"github.com/quorumdb/quorum/functions/xdatabase"
)

var update = flag.Bool("update", false, "rewrite golden files")

var target string

func TestMain(m *testing.M) {
	flag.Parse()
	switch localtest.Binaries("crossplane", "crossplane-core") {
	case 1:
		os.Exit(1)
	case -1:
		os.Exit(0)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	target = l.Addr().String()
	_ = l.Close()
	go func() {
		_ = function.Serve(&xdatabase.Function{Log: logging.NewNopLogger()}, function.Listen("tcp", target), function.Insecure(true), function.WithMetricsServer(""))
	}()
	os.Exit(m.Run())
}

func functionsFile(t *testing.T, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "functions.yaml")
	must(t, os.WriteFile(f, []byte(`apiVersion: pkg.crossplane.io/v1
kind: Function
metadata:
  name: function-quorum
  annotations:
    render.crossplane.io/runtime: Development
    render.crossplane.io/runtime-development-target: `+target+`
spec:
  package: xpkg.quorum.dev/quorumdb/function-quorum:v0.0.0
`), 0o600))
	return f
}

// render runs the CLI and returns its output.
func render(t *testing.T, xr string, observed []map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	xrFile := filepath.Join(dir, "xr.yaml")
	must(t, os.WriteFile(xrFile, []byte(xr), 0o600))
	args := []string{"composition", "render", xrFile,
		filepath.Join(localtest.Root(), "compositions", "xdatabase", "composition.yaml"),
		functionsFile(t, dir),
		"--crossplane-binary=" + localtest.Bin("crossplane-core"),
		"--include-function-results",
	}
	if len(observed) > 0 {
		var b bytes.Buffer
		for _, o := range observed {
			y, err := sigsyaml.Marshal(o)
			must(t, err)
			b.WriteString("---\n")
			b.Write(y)
		}
		f := filepath.Join(dir, "observed.yaml")
		must(t, os.WriteFile(f, b.Bytes(), 0o600))
		args = append(args, "--observed-resources="+f)
	}
	cmd := exec.CommandContext(context.Background(), localtest.Bin("crossplane"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crossplane composition render: %v\n%s", err, stderr.String())
	}
	return normalize(string(out))
}

// normalize sorts the Result documents Crossplane emits, which come in map
// order, keeping the resources in the order rendered.
func normalize(out string) string {
	var res, results []string
	for _, d := range strings.Split(strings.TrimPrefix(out, "---\n"), "\n---\n") {
		if strings.Contains(d, "\nkind: Result\n") {
			results = append(results, strings.TrimSuffix(d, "\n"))
			continue
		}
		res = append(res, strings.TrimSuffix(d, "\n"))
	}
	slices.Sort(results)
	return "---\n" + strings.Join(append(res, results...), "\n---\n") + "\n"
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".yaml")
	if *update {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("render %s: -want %s, +got:\n%s", name, path, diff)
	}
}

func xr(name, engine, version, tier, size, platform string, storage int) string {
	return fmt.Sprintf(`apiVersion: platform.quorum.dev/v1alpha1
kind: XDatabase
metadata:
  name: %s
  namespace: team-a
spec:
  engine: %s
  version: "%s"
  tier: %s
  size: %s
  storageGB: %d
  platform: %s
`, name, engine, version, tier, size, storage, platform)
}

// TestMatrix renders every engine on every platform in every tier.
func TestMatrix(t *testing.T) {
	versions := map[string]string{"postgresql": "15", "mongodb": "7.0", "sqlserver": "2022"}
	for _, engine := range []string{"postgresql", "mongodb", "sqlserver"} {
		for _, platform := range []string{"vsphere", "azure", "gcp"} {
			for _, tier := range []string{"dev", "standard", "ha", "critical"} {
				name := fmt.Sprintf("matrix/%s-%s-%s", engine, platform, tier)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					golden(t, name, render(t, xr("orders", engine, versions[engine], tier, "medium", platform, 50), nil))
				})
			}
		}
	}
}

// docs parses a YAML stream.
func docs(t *testing.T, s string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	d := yaml.NewYAMLOrJSONDecoder(strings.NewReader(s), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) > 0 && u.GetKind() != "Result" {
			out = append(out, u)
		}
	}
	return out
}

// observe turns rendered resources into observed ones: the kinds given are
// reported Ready, as the provider would once they work.
func observe(t *testing.T, rendered string, prev []map[string]any, ready map[string]func(*unstructured.Unstructured)) []map[string]any {
	t.Helper()
	byName := map[string]map[string]any{}
	var order []string
	for _, o := range prev {
		u := unstructured.Unstructured{Object: o}
		k := u.GetKind() + "/" + u.GetName()
		byName[k] = o
		order = append(order, k)
	}
	for _, u := range docs(t, rendered) {
		if u.GetKind() == "XDatabase" {
			continue
		}
		k := u.GetKind() + "/" + u.GetName()
		if _, ok := byName[k]; !ok {
			order = append(order, k)
		}
		if f, ok := ready[u.GetKind()]; ok {
			if u.GetKind() == "VirtualMachine" {
				address(t, u, byName)
			}
			u.SetGeneration(1)
			_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"}}, "status", "conditions")
			f(u)
		}
		if old, ok := byName[k]; ok {
			// Keep what the provider reported before (a role stays a role).
			if st, ok := old["status"].(map[string]any); ok {
				if ap, ok := st["atProvider"]; ok {
					_ = unstructured.SetNestedField(u.Object, ap, "status", "atProvider")
				}
				if _, ok := ready[u.GetKind()]; !ok {
					u.Object["status"] = st
				}
			}
		}
		byName[k] = u.Object
	}
	out := make([]map[string]any, 0, len(order))
	for _, k := range order {
		out = append(out, byName[k])
	}
	return out
}

// address gives a ready VM its address as the provider would: kept once
// given, else the lowest free one of its range (written to the spec and
// reported in status).
func address(t *testing.T, u *unstructured.Unstructured, seen map[string]map[string]any) {
	t.Helper()
	if prev, ok := seen["VirtualMachine/"+u.GetName()]; ok {
		if a, _, _ := unstructured.NestedString(prev, "spec", "forProvider", "network", "ipAddress"); a != "" {
			_ = unstructured.SetNestedField(u.Object, a, "spec", "forProvider", "network", "ipAddress")
		}
	}
	a, _, _ := unstructured.NestedString(u.Object, "spec", "forProvider", "network", "ipAddress")
	if a == "" {
		first, _, _ := unstructured.NestedString(u.Object, "spec", "forProvider", "network", "addressRange", "first")
		if first == "" {
			t.Fatalf("VirtualMachine %s has neither an address nor a range", u.GetName())
		}
		used := map[string]bool{}
		for k, o := range seen {
			if ip, _, _ := unstructured.NestedString(o, "spec", "forProvider", "network", "ipAddress"); strings.HasPrefix(k, "VirtualMachine/") && ip != "" {
				used[ip] = true
			}
		}
		next := netip.MustParseAddr(first)
		for used[next.String()] {
			next = next.Next()
		}
		a = next.String()
		_ = unstructured.SetNestedField(u.Object, a, "spec", "forProvider", "network", "ipAddress")
		seen["VirtualMachine/"+u.GetName()] = u.Object
	}
	_ = unstructured.SetNestedField(u.Object, a, "status", "atProvider", "ipAddress")
}

// TestProgression renders an ha PostgreSQL as it comes up: nothing ready,
// VMs ready, nodes ready, users and databases ready.
func TestProgression(t *testing.T) {
	spec := xr("orders", "postgresql", "15", "ha", "small", "vsphere", 20)
	out := render(t, spec, nil)
	golden(t, "progression/0-nothing-ready", out)

	obs := observe(t, out, nil, map[string]func(*unstructured.Unstructured){"VirtualMachine": func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI-"+u.GetName(), "status", "atProvider", "sshHostKey")
	}})
	out = render(t, spec, obs)
	golden(t, "progression/1-vms-ready", out)

	obs = observe(t, out, obs, map[string]func(*unstructured.Unstructured){"DatabaseNode": func(u *unstructured.Unstructured) {
		role := "replica"
		if strings.HasSuffix(u.GetName(), "-0") {
			role = "primary"
		}
		_ = unstructured.SetNestedField(u.Object, role, "status", "atProvider", "role")
	}})
	out = render(t, spec, obs)
	golden(t, "progression/2-nodes-ready", out)

	obs = observe(t, out, obs, map[string]func(*unstructured.Unstructured){
		"User": func(*unstructured.Unstructured) {}, "Database": func(*unstructured.Unstructured) {}, "Backup": func(*unstructured.Unstructured) {},
	})
	out = render(t, spec, obs)
	golden(t, "progression/3-users-ready", out)
}

// TestRollingResize renders a resize from small to medium step by step, the
// provider's progress simulated between steps.
func TestRollingResize(t *testing.T) {
	small := xr("orders", "postgresql", "15", "ha", "small", "vsphere", 20)
	medium := xr("orders", "postgresql", "15", "ha", "medium", "vsphere", 20)
	ready := func(kinds ...string) map[string]func(*unstructured.Unstructured) {
		m := map[string]func(*unstructured.Unstructured){}
		for _, k := range kinds {
			m[k] = func(u *unstructured.Unstructured) {
				if _, has, _ := unstructured.NestedString(u.Object, "status", "atProvider", "role"); u.GetKind() == "DatabaseNode" && !has {
					role := "replica"
					if strings.HasSuffix(u.GetName(), "-0") {
						role = "primary"
					}
					_ = unstructured.SetNestedField(u.Object, role, "status", "atProvider", "role")
				}
			}
		}
		return m
	}
	// Bring the small database up completely.
	var obs []map[string]any
	out := render(t, small, nil)
	for range 3 {
		obs = observe(t, out, obs, ready("VirtualMachine", "DatabaseNode", "User", "Database", "Backup"))
		out = render(t, small, obs)
	}
	// Now resize, each step letting the provider apply what was asked and
	// report healthy before the next render.
	for step := range 5 {
		out = render(t, medium, obs)
		golden(t, fmt.Sprintf("rolling-resize/step-%d", step), out)
		obs = observe(t, out, obs, ready("VirtualMachine", "DatabaseNode"))
		if step == 2 {
			// The provider performed the switchover the function asked for.
			for _, o := range obs {
				u := unstructured.Unstructured{Object: o}
				if u.GetKind() != "DatabaseNode" {
					continue
				}
				role := "replica"
				if strings.HasSuffix(u.GetName(), "-1") {
					role = "primary"
				}
				_ = unstructured.SetNestedField(o, role, "status", "atProvider", "role")
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
