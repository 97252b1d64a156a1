package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// VCenter is how to reach the platform's vCenter simulator.
type VCenter struct {
	URL        string `json:"url"`
	Thumbprint string `json:"thumbprint"`
	Username   string `json:"username"`
	Password   string `json:"password"`
}

func (p *Platform) vcenterFile() string { return filepath.Join(p.StateDir, "vcenter.json") }

// ReadVCenter returns the simulator's endpoint and credentials.
func (p *Platform) ReadVCenter() (VCenter, error) {
	v := VCenter{}
	b, err := os.ReadFile(p.vcenterFile())
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(b, &v)
}

// startVCSim runs govmomi's vCenter simulator as the platform's vCenter.
func (p *Platform) startVCSim(ctx context.Context, _ *State) error {
	if err := p.start(process{Name: "vcsim", Path: p.bin("quorum-vcsim"), Args: []string{"--out=" + p.vcenterFile()}}); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, "the vCenter simulator", func() (bool, error) {
		_, err := p.ReadVCenter()
		if p.pid("vcsim") == 0 {
			return false, fmt.Errorf("quorum-vcsim exited")
		}
		return err == nil, nil
	})
}

// providerConfig points the ClusterProviderConfig "default" at the simulator,
// its certificate pinned by thumbprint.
func (p *Platform) providerConfig(ctx context.Context, kube client.Client) error {
	v, err := p.ReadVCenter()
	if err != nil {
		return err
	}
	creds, _ := json.Marshal(map[string]string{"username": v.Username, "password": v.Password})
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: xpNamespace, Name: "vsphere-credentials"}, Data: map[string][]byte{"credentials": creds}}
	if err := kube.Create(ctx, sec); err != nil && !kerrors.IsAlreadyExists(err) {
		return err
	}
	pc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "quorum.dev/v1alpha1",
		"kind":       "ClusterProviderConfig",
		"metadata":   map[string]any{"name": "default"},
		"spec": map[string]any{
			"credentials": map[string]any{"source": "Secret", "secretRef": map[string]any{"namespace": xpNamespace, "name": "vsphere-credentials", "key": "credentials"}},
			"vsphere":     map[string]any{"url": v.URL, "thumbprint": v.Thumbprint, "datacenter": "DC0"},
		},
	}}
	return poll(ctx, 30*time.Second, "ClusterProviderConfig default", func() (bool, error) {
		// A fresh client each try: the kind was installed moments ago.
		k, err := p.Client()
		if err != nil {
			return false, err
		}
		if err := k.Create(ctx, pc.DeepCopy()); err != nil && !kerrors.IsAlreadyExists(err) {
			return false, err
		}
		return true, nil
	})
}
