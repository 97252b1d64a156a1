package databasenode

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
	"github.com/quorumdb/quorum/internal/engine"
	"github.com/quorumdb/quorum/internal/guestkeys"
)

// TestDeletionNeedsAnAuthoritativeGone: a node being deleted whose host
// does not answer is released only when its VirtualMachine is gone, or
// when its namespace is being deleted and its Secrets went with it; a
// failure to connect alone keeps it, with an error saying what it waits
// for.
func TestDeletionNeedsAnAuthoritativeGone(t *testing.T) {
	// A port nothing listens on: SSH is refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	keys, err := guestkeys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	node := func(installed bool) *dbv1alpha1.DatabaseNode {
		dn := &dbv1alpha1.DatabaseNode{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db-0", UID: "uid-db-0", DeletionTimestamp: &now, Finalizers: []string{"finalizer.managedresource.crossplane.io"}},
			Spec: dbv1alpha1.DatabaseNodeSpec{ForProvider: dbv1alpha1.DatabaseNodeParameters{
				Engine: dbv1alpha1.PostgreSQL, Version: "15", Host: "127.0.0.1", Port: 5432,
				SSH:                    dbv1alpha1.SSHConnection{Port: int32(port), User: "root", PrivateKeySecretRef: dbv1alpha1.SecretKeySelector{Name: "db-0-ssh", Key: "privateKey"}, HostKey: keys.HostPublic},
				Cluster:                dbv1alpha1.ClusterMembership{Name: "db", Members: []dbv1alpha1.Member{{Name: "db-0", Address: "127.0.0.1"}}, BootstrapRole: "primary", Replication: "none"},
				AdminPasswordSecretRef: dbv1alpha1.SecretKeySelector{Name: "db-admin-password", Key: "password"},
			}},
		}
		if installed {
			meta.SetExternalCreateSucceeded(dn, now.Time)
			dn.Status.AtProvider.AppliedConfigHash = "h1"
		}
		return dn
	}
	vm := &computev1alpha1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db-0"},
		Spec: computev1alpha1.VirtualMachineSpec{ForProvider: computev1alpha1.VirtualMachineParameters{Network: computev1alpha1.NetworkInterface{IPAddress: "127.0.0.1"}}}}
	sshKey := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db-0-ssh"}, Data: map[string][]byte{"privateKey": keys.LoginPrivate}}
	namespace := func(terminating bool) *corev1.Namespace {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
		if terminating {
			ns.DeletionTimestamp, ns.Finalizers = &now, []string{"kubernetes"}
		}
		return ns
	}
	cases := map[string]struct {
		objects  []client.Object
		never    bool
		wantGone bool
		wantErr  string
	}{
		"NeverInstalled": {
			objects:  []client.Object{vm, sshKey, namespace(false)},
			never:    true,
			wantGone: true,
		},
		"HostDownVMExists": {
			objects: []client.Object{vm, sshKey, namespace(false)},
			wantErr: "deletion waits, VirtualMachine db-0 still holds 127.0.0.1",
		},
		"VMGone": {
			objects:  []client.Object{sshKey, namespace(false)},
			wantGone: true,
		},
		"SecretGoneNamespaceLives": {
			objects: []client.Object{vm, namespace(false)},
			wantErr: "set spec.managementPolicies: [Observe] on DatabaseNode db-0",
		},
		"SecretGoneWithTheNamespace": {
			objects:  []client.Object{vm, namespace(true)},
			wantGone: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := runtime.NewScheme()
			_ = corev1.AddToScheme(s)
			_ = dbv1alpha1.SchemeBuilder.AddToScheme(s)
			_ = computev1alpha1.SchemeBuilder.AddToScheme(s)
			kube := fake.NewClientBuilder().WithScheme(s).WithObjects(tc.objects...).Build()
			ext, err := (&connector{kube: kube, roles: engine.Nodes}).Connect(context.Background(), node(!tc.never))
			_, gone := ext.(mrsetup.Gone[*dbv1alpha1.DatabaseNode])
			if gone != tc.wantGone {
				t.Fatalf("released: want %v, got %v (err %v)", tc.wantGone, gone, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
			}
			if err != nil && strings.Contains(err.Error(), string(keys.LoginPrivate)) {
				t.Error("the error quotes the private key")
			}
		})
	}
}

// TestMarkNamespace: a namespace is marked while a live node of a
// protected database is in it, and unmarked once none is.
func TestMarkNamespace(t *testing.T) {
	now := metav1.Now()
	nodeIn := func(name string, protected, deleting bool) *dbv1alpha1.DatabaseNode {
		yes := true
		dn := &dbv1alpha1.DatabaseNode{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "platform.quorum.dev/v1alpha1", Kind: "XDatabase", Name: "orders", UID: "xr-1", Controller: &yes}}}}
		if protected {
			dn.Labels = map[string]string{dbv1alpha1.LabelDeletionProtection: "true"}
		}
		if deleting {
			dn.DeletionTimestamp, dn.Finalizers = &now, []string{"finalizer.managedresource.crossplane.io"}
		}
		return dn
	}
	cases := map[string]struct {
		marked bool
		node   *dbv1alpha1.DatabaseNode
		others []client.Object
		gone   bool
		want   bool
	}{
		"ProtectedMarks":       {node: nodeIn("a", true, false), want: true},
		"OtherStillProtected":  {marked: true, node: nodeIn("a", false, false), others: []client.Object{nodeIn("b", true, false)}, want: true},
		"LastProtectionLifted": {marked: true, node: nodeIn("a", false, false), want: false},
		// Without an XDatabase to ask, the label stands: a protected node
		// being deleted refuses to go and still holds the namespace.
		"ProtectedNodeBeingDeleted": {marked: true, node: nodeIn("a", true, true), want: true},
		"ProtectedNodeDone":         {marked: true, node: nodeIn("a", true, true), gone: true, want: false},
		"UnprotectedLeavesAlone":    {node: nodeIn("a", false, false), want: false},
		"OtherStuckStillHolds":      {marked: true, node: nodeIn("a", false, false), others: []client.Object{nodeIn("b", true, true)}, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := runtime.NewScheme()
			_ = corev1.AddToScheme(s)
			_ = dbv1alpha1.SchemeBuilder.AddToScheme(s)
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
			if tc.marked {
				ns.Labels = map[string]string{dbv1alpha1.LabelProtectedDatabases: "true"}
			}
			kube := fake.NewClientBuilder().WithScheme(s).WithObjects(append(tc.others, ns, tc.node)...).Build()
			if err := markNamespace(context.Background(), kube, nil, tc.node, tc.gone); err != nil {
				t.Fatal(err)
			}
			got := &corev1.Namespace{}
			if err := kube.Get(context.Background(), client.ObjectKey{Name: "team-a"}, got); err != nil {
				t.Fatal(err)
			}
			if m := got.Labels[dbv1alpha1.LabelProtectedDatabases] == "true"; m != tc.want {
				t.Errorf("marked: want %v, got %v", tc.want, m)
			}
		})
	}
}

// TestProtectedNodeStays: a node of a protected XDatabase refuses to be
// deleted (no final backup taken, nothing stopped: it keeps running).
func TestProtectedNodeStays(t *testing.T) {
	yes := true
	dn := &dbv1alpha1.DatabaseNode{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders-0",
		Labels:          map[string]string{dbv1alpha1.LabelDeletionProtection: "true"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "platform.quorum.dev/v1alpha1", Kind: "XDatabase", Name: "orders", UID: "xr-1", Controller: &yes}}}}
	xr := &unstructured.Unstructured{}
	xr.SetAPIVersion("platform.quorum.dev/v1alpha1")
	xr.SetKind("XDatabase")
	xr.SetNamespace("team-a")
	xr.SetName("orders")
	xr.SetUID("xr-1")
	_ = unstructured.SetNestedField(xr.Object, true, "spec", "deletionProtection")
	// No role and no SSH: anything past the refusal would panic.
	e := &external{api: fake.NewClientBuilder().WithObjects(xr).Build()}
	_, err := e.Delete(context.Background(), dn)
	if err == nil || !strings.Contains(err.Error(), "DatabaseNode orders-0 belongs to XDatabase orders, whose spec.deletionProtection is true") {
		t.Fatalf("want the refusal, got %v", err)
	}
}
