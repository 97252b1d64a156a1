package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	xpkg "github.com/crossplane/crossplane-runtime/v2/pkg/xpkg"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Package sources. No registry serves them: Crossplane finds them in its
// package cache, keyed by source and digest, where Up puts them.
const (
	ProviderSource      = "xpkg.quorum.dev/quorumdb/provider-quorum"
	FunctionSource      = "xpkg.quorum.dev/quorumdb/function-quorum"
	ConfigurationSource = "xpkg.quorum.dev/quorumdb/configuration-quorum"

	ProviderName = "provider-quorum"
	FunctionName = "function-quorum"
)

// Package is a built xpkg file.
type Package struct {
	Name   string
	File   string
	Source string
	Digest string // sha256:<hex> of the file
}

// Ref is the package reference Crossplane installs.
func (k Package) Ref() string { return k.Source + "@" + k.Digest }

// BuildPackages builds the provider, function and configuration packages
// with `crossplane xpkg build`, offline, into dir.
func (p *Platform) BuildPackages(dir string) ([]Package, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// The configuration's package root is its crossplane.yaml plus the
	// XRDs and Compositions kept in compositions/.
	cfgRoot := filepath.Join(dir, "configuration-root")
	if err := os.RemoveAll(cfgRoot); err != nil {
		return nil, err
	}
	if err := copyYAML(filepath.Join(p.PackageDir, "configuration"), cfgRoot); err != nil {
		return nil, err
	}
	// Only XRDs and Compositions: admission policies cannot ship in a package.
	for _, d := range []string{"xdatabase", "legacy"} {
		if err := copyYAML(filepath.Join(p.CompositionDir, d), filepath.Join(cfgRoot, d)); err != nil {
			return nil, err
		}
	}
	specs := []struct{ name, root, source string }{
		{ProviderName, filepath.Join(p.PackageDir, "provider"), ProviderSource},
		{FunctionName, filepath.Join(p.PackageDir, "function"), FunctionSource},
		{"configuration-quorum", cfgRoot, ConfigurationSource},
	}
	out := make([]Package, 0, len(specs))
	for _, s := range specs {
		file := filepath.Join(dir, s.name+".xpkg")
		_ = os.Remove(file)
		if err := p.run("xpkg", nil, p.bin("crossplane"), "xpkg", "build", "--package-root="+s.root, "--examples-root="+filepath.Join(s.root, "examples"), "--package-file="+file); err != nil {
			return nil, err
		}
		d, err := fileDigest(file)
		if err != nil {
			return nil, err
		}
		out = append(out, Package{Name: s.name, File: file, Source: s.source, Digest: d})
	}
	return out, nil
}

func (p *Platform) installPackages(ctx context.Context, s *State) error {
	pkgs, err := p.BuildPackages(filepath.Join(p.StateDir, "xpkg"))
	if err != nil {
		return err
	}
	cache := filepath.Join(p.StateDir, "xpkg-cache")
	for _, k := range pkgs[:2] {
		name := xpkg.FriendlyID(k.Source, k.Digest) + ".gz"
		if err := p.run("xpkg", nil, p.bin("crossplane"), "xpkg", "extract", "--from-xpkg", k.File, "-o", filepath.Join(cache, name)); err != nil {
			return err
		}
	}
	kube, err := p.Client()
	if err != nil {
		return err
	}
	for _, k := range []struct {
		kind string
		pkg  Package
	}{{"Provider", pkgs[0]}, {"Function", pkgs[1]}} {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "pkg.crossplane.io/v1",
			"kind":       k.kind,
			"metadata":   map[string]any{"name": k.pkg.Name},
			"spec":       map[string]any{"package": k.pkg.Ref(), "packagePullPolicy": "IfNotPresent"},
		}}
		if err := kube.Create(ctx, u); err != nil && !kerrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot create %s %s: %w", k.kind, k.pkg.Name, err)
		}
	}

	// The provider: wait until its CRDs are installed, then run it.
	rev, err := p.waitRevision(ctx, "ProviderRevision", ProviderName)
	if err != nil {
		return err
	}
	// Crossplane will not install a provider's CRDs until the revision names
	// a TLS server Secret (its webhook certificate), even with webhooks off.
	if err := p.serverTLS(ctx, kube, ProviderName); err != nil {
		return err
	}
	if err := p.markRuntimeHealthy(ctx, kube, rev, map[string]any{"tlsServerSecretName": tlsSecretName(ProviderName)}); err != nil {
		return err
	}
	if err := p.waitCRD(ctx, kube, "virtualmachines.compute.m.quorum.dev"); err != nil {
		return err
	}
	if err := p.waitCRD(ctx, kube, "clusterproviderconfigs.quorum.dev"); err != nil {
		return err
	}
	if err := p.providerConfig(ctx, kube); err != nil {
		return err
	}
	if err := p.cloudProviderConfigs(ctx, kube); err != nil {
		return err
	}
	if err := p.backupCredentials(ctx, kube); err != nil {
		return err
	}
	bundle, err := p.trustBundle()
	if err != nil {
		return err
	}
	if err := p.start(process{Name: "provider", Path: p.bin("provider"), Env: []string{"KUBECONFIG=" + p.kubeconfig(), "SSL_CERT_FILE=" + bundle}, Args: []string{
		"--poll=15s",
		"--debug",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", s.Ports["provider-metrics"]),
		fmt.Sprintf("--health-probe-address=127.0.0.1:%d", s.Ports["provider-health"]),
	}}); err != nil {
		return err
	}

	// The function: serve mTLS with a certificate from Crossplane's CA and
	// tell Crossplane where it listens.
	if err := p.serverTLS(ctx, kube, FunctionName); err != nil {
		return err
	}
	if err := p.start(process{Name: "function", Path: p.bin("function"), Args: []string{
		"--address=" + s.FunctionEndpoint,
		"--tls-certs-dir=" + filepath.Join(p.StateDir, "tls", FunctionName),
		fmt.Sprintf("--metrics-address=127.0.0.1:%d", s.Ports["function-metrics"]),
	}}); err != nil {
		return err
	}
	if err := waitTCP(s.FunctionEndpoint, 20*time.Second); err != nil {
		return err
	}
	frev, err := p.waitRevision(ctx, "FunctionRevision", FunctionName)
	if err != nil {
		return err
	}
	if err := p.markRuntimeHealthy(ctx, kube, frev, map[string]any{"endpoint": s.FunctionEndpoint, "tlsServerSecretName": tlsSecretName(FunctionName)}); err != nil {
		return err
	}
	for _, k := range []struct{ kind, name string }{{"Provider", ProviderName}, {"Function", FunctionName}} {
		if err := p.waitHealthy(ctx, kube, k.kind, k.name); err != nil {
			return err
		}
	}
	return nil
}

// waitRevision returns the active revision of a package.
func (p *Platform) waitRevision(ctx context.Context, kind, pkgName string) (*unstructured.Unstructured, error) {
	kube, err := p.Client()
	if err != nil {
		return nil, err
	}
	var rev *unstructured.Unstructured
	err = poll(ctx, 90*time.Second, kind+" of "+pkgName, func() (bool, error) {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(schema.GroupVersionKind{Group: "pkg.crossplane.io", Version: "v1", Kind: kind + "List"})
		if err := kube.List(ctx, l, client.MatchingLabels{"pkg.crossplane.io/package": pkgName}); err != nil {
			return false, err
		}
		for i := range l.Items {
			if st, _, _ := unstructured.NestedString(l.Items[i].Object, "spec", "desiredState"); st == "Active" {
				rev = &l.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	return rev, err
}

// markRuntimeHealthy plays the part of the package runtime for a process we
// run ourselves: the External runtime contract is that whoever runs the
// package reports its health (and, for functions, its endpoint) on the
// revision's status.
func (p *Platform) markRuntimeHealthy(ctx context.Context, kube client.Client, rev *unstructured.Unstructured, fields map[string]any) error {
	return poll(ctx, 30*time.Second, "revision status update", func() (bool, error) {
		cur := rev.DeepCopy()
		if err := kube.Get(ctx, client.ObjectKeyFromObject(rev), cur); err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
		kept := make([]any, 0, len(conds)+1)
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "RuntimeHealthy" {
				continue
			}
			kept = append(kept, c)
		}
		kept = append(kept, map[string]any{
			"type": "RuntimeHealthy", "status": "True", "reason": "HealthyPackageRevision",
			"message":            "runs as a local process of the quorum local platform",
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		})
		if err := unstructured.SetNestedSlice(cur.Object, kept, "status", "conditions"); err != nil {
			return false, err
		}
		for k, v := range fields {
			if err := unstructured.SetNestedField(cur.Object, v, "status", k); err != nil {
				return false, err
			}
		}
		if err := kube.Status().Update(ctx, cur); err != nil {
			return false, err
		}
		return true, nil
	})
}

func (p *Platform) waitHealthy(ctx context.Context, kube client.Client, kind, name string) error {
	return poll(ctx, 90*time.Second, kind+" "+name+" Installed and Healthy", func() (bool, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "pkg.crossplane.io", Version: "v1", Kind: kind})
		if err := kube.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		if conditionTrue(conds, "Installed") && conditionTrue(conds, "Healthy") {
			return true, nil
		}
		return false, fmt.Errorf("conditions: %v", conds)
	})
}

func (p *Platform) waitCRD(ctx context.Context, kube client.Client, name string) error {
	return poll(ctx, 90*time.Second, "CRD "+name, func() (bool, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
		if err := kube.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		return conditionTrue(conds, "Established"), nil
	})
}

// serverTLS issues a package's serving certificate from Crossplane's CA,
// writes it where the package's process reads it and publishes it as the
// Secret the package revision names.
func (p *Platform) serverTLS(ctx context.Context, kube client.Client, name string) error {
	ca := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: xpNamespace, Name: xpCASecret}, ca); err != nil {
		return fmt.Errorf("cannot read Crossplane's CA: %w", err)
	}
	caPair := keyPair{Cert: ca.Data["tls.crt"], Key: ca.Data["tls.key"]}
	srv, err := issue(caPair, certRequest{
		CommonName: name,
		DNSNames:   []string{name, name + "." + xpNamespace, "localhost"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1")},
		Server:     true, Client: true,
	})
	if err != nil {
		return err
	}
	dir := filepath.Join(p.StateDir, "tls", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := map[string][]byte{"tls.crt": srv.Cert, "tls.key": srv.Key, "ca.crt": caPair.Cert}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			return err
		}
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: xpNamespace, Name: tlsSecretName(name)}, Data: files, Type: corev1.SecretTypeOpaque}
	if err := kube.Create(ctx, sec); err != nil && !kerrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func tlsSecretName(pkg string) string { return pkg + "-tls-server" }

func fileDigest(path string) (string, error) {
	f, err := os.Open(path) //nolint:gosec // Our own build output.
	if err != nil {
		return "", err
	}
	defer f.Close() //nolint:errcheck // Read only.
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// copyYAML copies the YAML files of a folder tree into dst, keeping layout.
func copyYAML(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if filepath.Ext(path) != ".yaml" {
			return nil
		}
		b, err := os.ReadFile(path) //nolint:gosec // Our own repository files.
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
