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
	return v, readJSON(p.vcenterFile(), &v)
}

// startVCSim runs govmomi's vCenter simulator as the platform's vCenter.
func (p *Platform) startVCSim(ctx context.Context, _ *State) error {
	return p.startWriting(ctx, process{Name: "vcsim", Path: p.bin("quorum-vcsim"), Args: []string{"--out=" + p.vcenterFile()}},
		"the vCenter simulator", func() error { _, err := p.ReadVCenter(); return err })
}

// startWriting starts a simulator and waits until it has written where it
// listens (ready reads it back).
func (p *Platform) startWriting(ctx context.Context, pr process, what string, ready func() error) error {
	if err := p.start(pr); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, what, func() (bool, error) {
		err := ready()
		if p.pid(pr.Name) == 0 {
			return false, fmt.Errorf("%s exited", filepath.Base(pr.Path))
		}
		return err == nil, nil
	})
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
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
