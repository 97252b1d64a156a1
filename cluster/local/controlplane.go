package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func (p *Platform) startEtcd(_ context.Context, s *State) error {
	etcd := "/usr/bin/etcd"
	if _, err := os.Stat(etcd); err != nil {
		return fmt.Errorf("etcd not found at %s: install Debian's etcd-server package (the README's setup does)", etcd)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", s.Ports["etcd"])
	peer := fmt.Sprintf("http://127.0.0.1:%d", s.Ports["etcd-peer"])
	if err := p.start(process{Name: "etcd", Path: etcd, Args: []string{
		"--name=quorum-local",
		"--data-dir=" + filepath.Join(p.StateDir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=quorum-local=" + peer,
		"--logger=zap", "--log-outputs=stderr",
		// A throwaway local store: trade fsync durability for start-up speed.
		"--unsafe-no-fsync",
	}}); err != nil {
		return err
	}
	return waitTCP(fmt.Sprintf("127.0.0.1:%d", s.Ports["etcd"]), 20*time.Second)
}

func (p *Platform) startAPIServer(ctx context.Context, s *State) error {
	pki := p.pki()
	if err := p.start(process{Name: "kube-apiserver", Path: p.bin("kube-apiserver"), Args: []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", s.Ports["etcd"]),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.Ports["kube-apiserver"]),
		// No kubelet and no Service network: nothing to reconcile endpoints for.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--profiling=false",
	}}); err != nil {
		return err
	}
	return p.waitReady(ctx, s, 60*time.Second)
}

// waitReady polls the apiserver's /readyz with the admin certificate.
func (p *Platform) waitReady(ctx context.Context, s *State, timeout time.Duration) error {
	pki := p.pki()
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.APIServer+"/readyz", nil)
		rsp, err := hc.Do(req)
		if err == nil {
			_ = rsp.Body.Close()
			if rsp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.pid("kube-apiserver") == 0 {
			return fmt.Errorf("kube-apiserver exited")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready after %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (p *Platform) startControllerManager(_ context.Context, s *State) error {
	pki := p.pki()
	return p.start(process{Name: "kube-controller-manager", Path: p.bin("kube-controller-manager"), Args: []string{
		"--kubeconfig=" + p.kubeconfig(),
		"--authentication-kubeconfig=" + p.kubeconfig(),
		"--authorization-kubeconfig=" + p.kubeconfig(),
		// Only what a cluster without nodes needs: namespace deletion, default
		// ServiceAccounts, and ownerReference garbage collection so deleting an
		// XR deletes what it composed.
		"--controllers=namespace-controller,serviceaccount-controller,garbage-collector-controller",
		"--service-account-private-key-file=" + filepath.Join(pki, "sa.key"),
		"--root-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.Ports["kube-controller-manager"]),
	}})
}
