package admission

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorumdb/quorum/cluster/local/localtest"
)

// applyFile creates every object of a repository YAML file, in namespace
// when it has none.
func applyFile(t *testing.T, kube client.Client, rel string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(localtest.Root(), rel))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := kube.Create(context.Background(), u); err != nil && !kerrors.IsAlreadyExists(err) {
			t.Fatalf("%s: %v", rel, err)
		}
	}
}

// TestAppTeamRole: the roles Quorum ships let an app team's developers
// manage their own XDatabases and nothing else, and let their application
// read its connection Secret and no other Secret of the namespace (where
// the cluster's admin password, SSH keys and CA key live too).
func TestAppTeamRole(t *testing.T) {
	kube := setup(t)
	ctx := context.Background()
	for _, n := range []string{"team-a", "team-b"} {
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil && !kerrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		for _, s := range []string{"orders-connection", "orders-admin", "orders-admin-password", "orders-0-ssh", "orders-ca"} {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: s}, Data: map[string][]byte{"k": []byte("v")}}
			if err := kube.Create(ctx, sec); err != nil && !kerrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
	applyFile(t, kube, "compositions/rbac/roles.yaml")
	applyFile(t, kube, "examples/rbac/team-a.yaml")

	dev, err := platform.ClientAs("alice", "team-a-developers")
	if err != nil {
		t.Fatal(err)
	}
	app, err := platform.ClientAs("system:serviceaccount:team-a:orders-app", "system:serviceaccounts", "system:serviceaccounts:team-a")
	if err != nil {
		t.Fatal(err)
	}
	xdb := func(namespace string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "platform.quorum.dev/v1alpha1", "kind": "XDatabase",
			"metadata": map[string]any{"name": "orders", "namespace": namespace},
			"spec":     map[string]any{"engine": "postgresql", "version": "16", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"},
		}}
	}
	vm := func(namespace string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "compute.m.quorum.dev/v1alpha1", "kind": "VirtualMachine",
			"metadata": map[string]any{"name": "grab", "namespace": namespace},
			"spec":     map[string]any{"forProvider": map[string]any{"cpus": 2, "memoryMiB": 4096, "osDiskGiB": 20, "network": map[string]any{"network": "VM Network", "ipAddress": "10.77.0.16"}}},
		}}
	}
	get := func(c client.Client, namespace, name string) func() error {
		return func() error { return c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &corev1.Secret{}) }
	}
	cases := map[string]struct {
		do      func() error
		allowed bool
	}{
		"DeveloperCreatesXDatabase": {do: func() error { return dev.Create(ctx, xdb("team-a"), client.DryRunAll) }, allowed: true},
		"DeveloperListsXDatabases": {do: func() error {
			return dev.List(ctx, &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "platform.quorum.dev/v1alpha1", "kind": "XDatabaseList"}}, client.InNamespace("team-a"))
		}, allowed: true},
		"DeveloperInAnotherNamespace":       {do: func() error { return dev.Create(ctx, xdb("team-b"), client.DryRunAll) }},
		"DeveloperReadsTheAdminPassword":    {do: get(dev, "team-a", "orders-admin-password")},
		"DeveloperReadsTheConnectionSecret": {do: get(dev, "team-a", "orders-connection")},
		"DeveloperCreatesAVirtualMachine":   {do: func() error { return dev.Create(ctx, vm("team-a"), client.DryRunAll) }},
		"DeveloperCreatesAProviderConfig":   {do: func() error { return dev.Create(ctx, providerConfig("team-a"), client.DryRunAll) }},
		"DeveloperListsAddressLeases": {do: func() error {
			return dev.List(ctx, &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "quorum.dev/v1alpha1", "kind": "AddressLeaseList"}})
		}},
		"AppReadsItsConnectionSecret":        {do: get(app, "team-a", "orders-connection"), allowed: true},
		"AppReadsTheAdminConnection":         {do: get(app, "team-a", "orders-admin")},
		"AppReadsTheSSHKey":                  {do: get(app, "team-a", "orders-0-ssh")},
		"AppReadsTheCA":                      {do: get(app, "team-a", "orders-ca")},
		"AppListsSecrets":                    {do: func() error { return app.List(ctx, &corev1.SecretList{}, client.InNamespace("team-a")) }},
		"AppReadsAnotherTeamsConnection":     {do: get(app, "team-b", "orders-connection")},
		"AppReadsThePlatformsStoreKey":       {do: get(app, "crossplane-system", "quorum-backup-s3")},
		"DeveloperReadsThePlatformsStoreKey": {do: get(dev, "crossplane-system", "quorum-backup-s3")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.do()
			switch {
			case tc.allowed && err != nil:
				t.Errorf("want allowed, got %v", err)
			case !tc.allowed && !kerrors.IsForbidden(err):
				t.Errorf("want forbidden, got %v", err)
			}
		})
	}
}

func providerConfig(namespace string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "quorum.dev/v1alpha1", "kind": "ProviderConfig",
		"metadata": map[string]any{"name": "mine", "namespace": namespace},
		"spec": map[string]any{"credentials": map[string]any{"source": "Secret", "secretRef": map[string]any{"name": "creds", "namespace": namespace, "key": "k"}},
			"vsphere": map[string]any{"url": "https://vcenter.example/sdk"}},
	}}
}
