// Package local runs the whole product on one machine for real: etcd, a
// kube-apiserver and kube-controller-manager built from source, Crossplane
// core out of cluster, and our provider and function as local processes
// installed through Crossplane's package manager from an offline cache.
//
// Everything it creates lives under one state directory: certificates, data,
// logs of every component, pid files and the kubeconfig. Down removes it all.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/quorumdb/quorum/cluster/localdc"
)

// Components in start order; Down stops them in reverse.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "crossplane", "vcsim", "fakecloud", "guests", "objectstore", "provider", "function"}

// Platform is one local platform, identified by its state directory.
type Platform struct {
	// StateDir holds everything the platform creates.
	StateDir string
	// BinDir holds the binaries built by `make tools build`.
	BinDir string
	// PackageDir is the repository's package/ folder; CompositionDir its compositions/.
	PackageDir     string
	CompositionDir string
	// Out receives progress messages.
	Out io.Writer
}

// State is what Up records for Status, Down and other tools.
type State struct {
	Kubeconfig       string         `json:"kubeconfig"`
	APIServer        string         `json:"apiServer"`
	Ports            map[string]int `json:"ports"`
	FunctionEndpoint string         `json:"functionEndpoint"`
	StartedAt        time.Time      `json:"startedAt"`
	StartupSeconds   float64        `json:"startupSeconds"`
}

func (p *Platform) statePath() string  { return filepath.Join(p.StateDir, "state.json") }
func (p *Platform) kubeconfig() string { return filepath.Join(p.StateDir, "kubeconfig") }
func (p *Platform) pki() string        { return filepath.Join(p.StateDir, "pki") }

func (p *Platform) logf(format string, a ...any) {
	_, _ = fmt.Fprintf(p.Out, format+"\n", a...)
}

// ReadState returns the recorded state of a platform that was started.
func (p *Platform) ReadState() (*State, error) {
	b, err := os.ReadFile(p.statePath())
	if err != nil {
		return nil, err
	}
	s := &State{}
	return s, json.Unmarshal(b, s)
}

// Running reports whether every component is alive.
func (p *Platform) Running() bool {
	if _, err := p.ReadState(); err != nil {
		return false
	}
	for _, c := range components {
		if p.pid(c) == 0 {
			return false
		}
	}
	return true
}

// Up starts the platform. It is safe to run twice: a platform whose
// components are all alive is left alone; a half-started one is cleaned up
// and started again.
func (p *Platform) Up(ctx context.Context) (*State, error) {
	if p.Running() {
		p.logf("local platform already running (state in %s)", p.StateDir)
		return p.ReadState()
	}
	if err := p.Down(); err != nil {
		return nil, fmt.Errorf("cannot clean up a previous platform: %w", err)
	}
	began := time.Now()
	for _, d := range []string{"pki", "logs", "run", "etcd", "xpkg-cache", "crossplane-tls", "tls", "xpkg"} {
		if err := os.MkdirAll(filepath.Join(p.StateDir, d), 0o700); err != nil {
			return nil, err
		}
	}
	s := &State{Kubeconfig: p.kubeconfig(), Ports: map[string]int{}, StartedAt: began}
	for _, name := range []string{"etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "crossplane-metrics", "crossplane-health", "function", "function-metrics", "provider-metrics", "provider-health"} {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Ports[name] = port
	}
	s.APIServer = fmt.Sprintf("https://127.0.0.1:%d", s.Ports["kube-apiserver"])
	s.FunctionEndpoint = fmt.Sprintf("127.0.0.1:%d", s.Ports["function"])

	steps := []struct {
		name string
		fn   func(context.Context, *State) error
	}{
		{"certificates", p.certificates},
		{"etcd", p.startEtcd},
		{"kube-apiserver", p.startAPIServer},
		{"kube-controller-manager", p.startControllerManager},
		{"crossplane", p.startCrossplane},
		{"vcsim", p.startVCSim},
		{"fakecloud", p.startFakeCloud},
		{"guests", p.startGuests},
		{"objectstore", p.startObjectStore},
		{"packages", p.installPackages},
	}
	for _, st := range steps {
		t := time.Now()
		if err := st.fn(ctx, s); err != nil {
			return nil, fmt.Errorf("%s: %w (logs in %s)", st.name, err, filepath.Join(p.StateDir, "logs"))
		}
		p.logf("  %-24s %5.1fs", st.name, time.Since(t).Seconds())
	}
	s.StartupSeconds = time.Since(began).Seconds()
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(p.statePath(), b, 0o600); err != nil {
		return nil, err
	}
	p.logf("local platform up in %.1fs", s.StartupSeconds)
	return s, nil
}

// Down stops every component and removes the state directory. Safe to run
// when nothing runs.
func (p *Platform) Down() error {
	var errs []error
	for i := len(components) - 1; i >= 0; i-- {
		if err := p.stop(components[i]); err != nil {
			errs = append(errs, err)
		}
	}
	// The guests' namespaces, links and processes, then the bridge.
	if localdc.Check() == nil {
		if err := p.DC().Teardown(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return os.RemoveAll(p.StateDir)
}

// ComponentStatus is one line of Status.
type ComponentStatus struct {
	Name    string
	PID     int
	Running bool
	Log     string
}

// Status lists every component with its pid and log.
func (p *Platform) Status() []ComponentStatus {
	out := make([]ComponentStatus, 0, len(components))
	for _, c := range components {
		pid := p.pid(c)
		out = append(out, ComponentStatus{Name: c, PID: pid, Running: pid != 0, Log: p.logFile(c)})
	}
	return out
}

func (p *Platform) certificates(_ context.Context, s *State) error {
	ca, err := newCA("quorum-local-ca")
	if err != nil {
		return err
	}
	if err := ca.write(p.pki(), "ca"); err != nil {
		return err
	}
	srv, err := issue(ca, certRequest{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1")},
		Server:     true,
	})
	if err != nil {
		return err
	}
	if err := srv.write(p.pki(), "apiserver"); err != nil {
		return err
	}
	admin, err := issue(ca, certRequest{CommonName: "quorum-admin", Organization: []string{"system:masters"}, Client: true})
	if err != nil {
		return err
	}
	if err := admin.write(p.pki(), "admin"); err != nil {
		return err
	}
	if err := serviceAccountKey(p.pki()); err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["quorum-local"] = &clientcmdapi.Cluster{Server: s.APIServer, CertificateAuthorityData: ca.Cert}
	cfg.AuthInfos["quorum-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: admin.Cert, ClientKeyData: admin.Key}
	cfg.Contexts["quorum-local"] = &clientcmdapi.Context{Cluster: "quorum-local", AuthInfo: "quorum-admin"}
	cfg.CurrentContext = "quorum-local"
	return clientcmd.WriteToFile(*cfg, p.kubeconfig())
}

func (p *Platform) bin(name string) string { return filepath.Join(p.BinDir, name) }
