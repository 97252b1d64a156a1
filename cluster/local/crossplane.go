package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Names of the Secrets crossplane core init fills with its TLS material.
const (
	xpNamespace    = "crossplane-system"
	xpCASecret     = "crossplane-root-ca"
	xpClientSecret = "crossplane-tls-client"
	xpServerSecret = "crossplane-tls-server"
)

// Client returns a Kubernetes client for the platform.
func (p *Platform) Client() (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	return client.New(cfg, client.Options{})
}

// ClientAs returns a Kubernetes client that acts as user in groups
// (impersonation), to test what a role lets someone do.
func (p *Platform) ClientAs(user string, groups ...string) (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return client.New(cfg, client.Options{})
}

func (p *Platform) xpEnv() []string {
	return []string{
		"KUBECONFIG=" + p.kubeconfig(),
		"POD_NAMESPACE=" + xpNamespace,
		"CRDS_PATH=" + p.bin("crossplane-crds"),
		"TLS_CA_SECRET_NAME=" + xpCASecret,
		"TLS_CLIENT_SECRET_NAME=" + xpClientSecret,
		"TLS_SERVER_SECRET_NAME=" + xpServerSecret,
	}
}

func (p *Platform) startCrossplane(ctx context.Context, s *State) error {
	kube, err := p.Client()
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: xpNamespace}}
	if err := kube.Create(ctx, ns); err != nil && !kerrors.IsAlreadyExists(err) {
		return err
	}
	// The first init can race its own CRDs ("no matches for kind Lock"); it
	// is idempotent, so retry.
	for attempt := 1; ; attempt++ {
		err = p.run("crossplane-init", p.xpEnv(), p.bin("crossplane-core"), "core", "init", "--enable-webhooks=false")
		if err == nil {
			break
		}
		if attempt == 5 {
			return err
		}
		time.Sleep(time.Second)
	}
	sec := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: xpNamespace, Name: xpClientSecret}, sec); err != nil {
		return fmt.Errorf("cannot read crossplane client certificate: %w", err)
	}
	dir := filepath.Join(p.StateDir, "crossplane-tls")
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, k), sec.Data[k], 0o600); err != nil {
			return err
		}
	}
	if err := p.start(process{Name: "crossplane", Path: p.bin("crossplane-core"), Env: p.xpEnv(), Args: []string{
		"core", "start",
		"--enable-webhooks=false",
		"--package-runtime=External",
		// One HA database brings about 120 watch events on its XR in its
		// first 40 s (its own status, 3 VMs, 3 nodes, users, databases,
		// Secrets as they settle): over the default burst of 100, after
		// which Crossplane drops them and the XR waits for its next poll
		// (up to a minute) at every step. Measured; see the README.
		"--circuit-breaker-burst=500",
		"--xpkg-cache-dir=" + filepath.Join(p.StateDir, "xpkg-cache"),
		"--tls-client-certs-dir=" + dir,
		fmt.Sprintf("--metrics-port=%d", s.Ports["crossplane-metrics"]),
		fmt.Sprintf("--health-probe-port=%d", s.Ports["crossplane-health"]),
	}}); err != nil {
		return err
	}
	return waitTCP(fmt.Sprintf("127.0.0.1:%d", s.Ports["crossplane-health"]), 60*time.Second)
}

// poll calls fn until it reports done, fails, or the timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, fn func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := fn()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s: %w", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func conditionTrue(conds []any, typ string) bool {
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ && strings.EqualFold(fmt.Sprint(m["status"]), "True") {
			return true
		}
	}
	return false
}
