package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorumdb/quorum/cluster/localdc"
	"github.com/quorumdb/quorum/internal/cloud/fakeapi"
	"github.com/quorumdb/quorum/internal/guestkeys"
)

// The fake clouds' networks: a quarter of the local datacenter each, named
// as the Composition's function input names them (compositions/xdatabase).
const (
	azureSubscription = "00000000-0000-4000-8000-00000000a2a2"
	azureSubnet       = "/subscriptions/" + azureSubscription + "/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-databases/subnets/databases"
	gcpSubnetwork     = "regions/europe-west1/subnetworks/databases"
)

var (
	azurePrefix = netip.MustParsePrefix("10.77.64.0/18")
	gcpPrefix   = netip.MustParsePrefix("10.77.128.0/18")
)

// FakeClouds is what quorum-fakecloud writes: endpoints and credentials.
type FakeClouds = fakeapi.Endpoints

func (p *Platform) fakeCloudFile() string { return filepath.Join(p.StateDir, "fakecloud.json") }

// ReadFakeClouds returns the fake clouds' endpoints and credentials.
func (p *Platform) ReadFakeClouds() (FakeClouds, error) {
	f := FakeClouds{}
	return f, readJSON(p.fakeCloudFile(), &f)
}

// startFakeCloud runs the fake Azure and GCP over TLS with a certificate
// from the platform's CA, which the provider trusts (trustBundle).
func (p *Platform) startFakeCloud(ctx context.Context, _ *State) error {
	ca, err := readPair(p.pki(), "ca")
	if err != nil {
		return err
	}
	srv, err := issue(ca, certRequest{CommonName: "quorum-fakecloud", IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		return err
	}
	if err := srv.write(p.pki(), "fakecloud"); err != nil {
		return err
	}
	return p.startWriting(ctx, process{Name: "fakecloud", Path: p.bin("quorum-fakecloud"), Args: []string{
		"--tls-cert=" + filepath.Join(p.pki(), "fakecloud.crt"),
		"--tls-key=" + filepath.Join(p.pki(), "fakecloud.key"),
		"--out=" + p.fakeCloudFile(),
		"--azure-subnet=" + azureSubnet + "=" + azurePrefix.String(),
		"--gcp-subnetwork=" + gcpSubnetwork + "=" + gcpPrefix.String(),
		"--subscription=" + azureSubscription,
	}}, "the fake clouds", func() error { _, err := p.ReadFakeClouds(); return err })
}

func readPair(dir, name string) (keyPair, error) {
	c, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return keyPair{}, err
	}
	k, err := os.ReadFile(filepath.Join(dir, name+".key"))
	return keyPair{Cert: c, Key: k}, err
}

// trustBundle is the provider's SSL_CERT_FILE: the machine's CAs (real
// clouds stay reachable) and the platform's (its fake clouds).
func (p *Platform) trustBundle() (string, error) {
	ca, err := os.ReadFile(filepath.Join(p.pki(), "ca.crt"))
	if err != nil {
		return "", err
	}
	bundle := []byte{}
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if b, err := os.ReadFile(f); err == nil {
			bundle = append(b, '\n')
			break
		}
	}
	path := filepath.Join(p.pki(), "trust-bundle.crt")
	return path, os.WriteFile(path, append(bundle, ca...), 0o600)
}

// cloudProviderConfigs creates the ClusterProviderConfigs "azure" and "gcp"
// the Composition names, pointing at the fake clouds.
func (p *Platform) cloudProviderConfigs(ctx context.Context, kube client.Client) error {
	f, err := p.ReadFakeClouds()
	if err != nil {
		return err
	}
	azCreds, _ := json.Marshal(map[string]string{"clientId": f.Azure.ClientID, "clientSecret": f.Azure.ClientSecret, "tenantId": f.Azure.TenantID})
	cfgs := []struct {
		name  string
		creds []byte
		spec  map[string]any
	}{
		{"azure", azCreds, map[string]any{"azure": map[string]any{"subscriptionID": f.Azure.SubscriptionID, "endpoint": f.Azure.URL, "activeDirectoryEndpoint": f.Azure.URL}}},
		{"gcp", f.GCP.KeyFile, map[string]any{"gcp": map[string]any{"project": f.GCP.Project, "endpoint": f.GCP.URL + "/compute/v1/"}}},
	}
	for _, c := range cfgs {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: xpNamespace, Name: c.name + "-credentials"}, Data: map[string][]byte{"credentials": c.creds}}
		if err := kube.Create(ctx, sec); err != nil && !kerrors.IsAlreadyExists(err) {
			return err
		}
		spec := c.spec
		spec["credentials"] = map[string]any{"source": "Secret", "secretRef": map[string]any{"namespace": xpNamespace, "name": sec.Name, "key": "credentials"}}
		pc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "quorum.dev/v1alpha1", "kind": "ClusterProviderConfig",
			"metadata": map[string]any{"name": c.name}, "spec": spec,
		}}
		if err := kube.Create(ctx, pc); err != nil && !kerrors.IsAlreadyExists(err) {
			return fmt.Errorf("ClusterProviderConfig %s: %w", c.name, err)
		}
	}
	return nil
}

// cloudVM is one VM of a fake cloud's inventory.
type cloudVM struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
	Running bool   `json:"Running"`
	// CustomData (Azure) or UserData (GCP): the cloud-init document.
	CustomData string         `json:"CustomData"`
	UserData   string         `json:"UserData"`
	Disks      []fakeapi.Disk `json:"Disks"`
}

// cloudGuests lists the fake clouds' running VMs that should have a guest,
// keyed by VM name prefixed with the cloud's name (names are unique per
// cloud only).
func cloudGuests(ctx context.Context, hc *http.Client, f FakeClouds) (map[string]localdc.Guest, error) {
	out := map[string]localdc.Guest{}
	for cloud, url := range map[string]string{"az": f.Azure.URL, "gc": f.GCP.URL} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_fakecloud/vms", nil)
		req.Header.Set("Authorization", "Bearer "+f.InventoryToken)
		rsp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		var vms []cloudVM
		err = json.NewDecoder(rsp.Body).Decode(&vms)
		_ = rsp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("inventory of %s: %w", url, err)
		}
		for _, vm := range vms {
			addr, err := netip.ParseAddr(vm.Address)
			if !vm.Running || err != nil || !dcGateway.Contains(addr) {
				continue
			}
			hostKey, auth, err := guestkeys.ParseUserData(vm.CustomData + vm.UserData)
			if err != nil {
				continue
			}
			// Guest names become namespace and link names: keep them short
			// and distinct from vSphere's.
			name := cloud + "-" + vm.Name
			g := localdc.Guest{Name: name, Address: addr, HostKey: hostKey, AuthorizedKey: auth}
			for _, d := range vm.Disks {
				g.Disks = append(g.Disks, localdc.Disk{Path: d.Path, SizeGiB: d.SizeGiB})
			}
			out[name] = g
		}
	}
	return out, nil
}

// platformHTTPClient trusts the platform's CA only.
func (p *Platform) platformHTTPClient() (*http.Client, error) {
	ca, err := os.ReadFile(filepath.Join(p.pki(), "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", filepath.Join(p.pki(), "ca.crt"))
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}
