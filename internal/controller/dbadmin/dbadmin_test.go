package dbadmin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
)

func TestEndpoint(t *testing.T) {
	ref := dbv1alpha1.AdminConnection{SecretRef: dbv1alpha1.LocalSecretReference{Name: "db-admin"}}
	cases := []struct {
		name    string
		data    map[string][]byte
		want    accounts.Endpoint
		wantErr string
	}{
		{"complete", map[string][]byte{"engine": []byte("mongodb"), "hosts": []byte("a,b"), "port": []byte("27017"), "username": []byte("root"), "password": []byte("pw"), "replicaSet": []byte("rs")},
			accounts.Endpoint{Engine: "mongodb", Hosts: []string{"a", "b"}, Port: 27017, Username: "root", Password: "pw", ReplicaSet: "rs"}, ""},
		{"not yet published", map[string][]byte{"engine": []byte("postgresql")}, accounts.Endpoint{},
			"admin connection Secret db-admin lacks keys [hosts password username]: waiting for the cluster's first node to publish them"},
		{"bad port", map[string][]byte{"engine": []byte("postgresql"), "port": []byte("x")}, accounts.Endpoint{}, `key port "x" is not a number`},
		{"missing Secret", nil, accounts.Endpoint{}, "cannot read the admin connection Secret db-admin named by spec.forProvider.admin.secretRef"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := runtime.NewScheme()
			_ = corev1.AddToScheme(s)
			b := fake.NewClientBuilder().WithScheme(s)
			if tc.data != nil {
				b = b.WithObjects(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db-admin"}, Data: tc.data})
			}
			got, err := Endpoint(context.Background(), b.Build(), "ns", ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOwnerGoing(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "platform.quorum.dev/v1alpha1", Kind: "XDatabase", Name: "orders", UID: "xr-1", Controller: ptr(true)}
	other := metav1.OwnerReference{APIVersion: "platform.quorum.dev/v1alpha1", Kind: "XDatabase", Name: "billing", UID: "xr-2", Controller: ptr(true)}
	node := func(name string, ref metav1.OwnerReference, deleting bool) *dbv1alpha1.DatabaseNode {
		dn := &dbv1alpha1.DatabaseNode{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, OwnerReferences: []metav1.OwnerReference{ref}}}
		if deleting {
			now := metav1.Now()
			dn.DeletionTimestamp = &now
			dn.Finalizers = []string{"test"}
		}
		return dn
	}
	user := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders-app", OwnerReferences: []metav1.OwnerReference{owner}}}
	standalone := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app"}}
	for _, tc := range []struct {
		name  string
		obj   *dbv1alpha1.User
		nodes []*dbv1alpha1.DatabaseNode
		want  bool
	}{
		{"database running: a removed user is dropped", user, []*dbv1alpha1.DatabaseNode{node("orders-0", owner, false), node("orders-1", owner, false)}, false},
		{"database being deleted", user, []*dbv1alpha1.DatabaseNode{node("orders-0", owner, true), node("orders-1", owner, false)}, true},
		{"database's nodes gone", user, []*dbv1alpha1.DatabaseNode{node("billing-0", other, false)}, true},
		{"another database being deleted", user, []*dbv1alpha1.DatabaseNode{node("orders-0", owner, false), node("billing-0", other, true)}, false},
		{"not composed", standalone, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runtime.NewScheme()
			_ = dbv1alpha1.SchemeBuilder.AddToScheme(s)
			b := fake.NewClientBuilder().WithScheme(s)
			for _, n := range tc.nodes {
				b = b.WithObjects(n)
			}
			if got := OwnerGoing(context.Background(), b.Build(), nil, tc.obj); got != tc.want {
				t.Errorf("OwnerGoing = %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestOwnerGoingReadsTheXR: with access to the XDatabase, its absence
// decides even while its nodes have not been reached by the garbage
// collector yet.
func TestOwnerGoingReadsTheXR(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "platform.quorum.dev/v1alpha1", Kind: "XDatabase", Name: "orders", UID: "xr-1", Controller: ptr(true)}
	s := runtime.NewScheme()
	_ = dbv1alpha1.SchemeBuilder.AddToScheme(s)
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(&dbv1alpha1.DatabaseNode{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders-0", OwnerReferences: []metav1.OwnerReference{owner}}}).Build()
	user := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders-app", OwnerReferences: []metav1.OwnerReference{owner}}}
	xr := &unstructured.Unstructured{}
	xr.SetAPIVersion("platform.quorum.dev/v1alpha1")
	xr.SetKind("XDatabase")
	xr.SetNamespace("ns")
	xr.SetName("orders")
	xr.SetUID("xr-1")
	withXR := fake.NewClientBuilder().WithObjects(xr).Build()
	if OwnerGoing(context.Background(), kube, withXR, user) {
		t.Error("XR present and not deleting: going")
	}
	if !OwnerGoing(context.Background(), kube, fake.NewClientBuilder().Build(), user) {
		t.Error("XR gone: not going")
	}
}

// TestUnreachable: a User or Database being deleted lets go when its
// cluster's admin Secret is gone, and waits, saying why, on anything else.
func TestUnreachable(t *testing.T) {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db-admin"},
		Data:       map[string][]byte{"engine": []byte("postgresql"), "hosts": []byte("127.0.0.1"), "port": []byte("1"), "username": []byte("quorum_admin"), "password": []byte("pw")},
	}).Build()
	dialers := map[string]accounts.Dialer{"postgresql": func(context.Context, accounts.Endpoint) (accounts.Admin, error) {
		return nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	}}
	cases := map[string]struct {
		secret   string
		wantGone bool
		wantErr  string
	}{
		"SecretGone":  {secret: "gone-admin", wantGone: true},
		"ClusterDown": {secret: "db-admin", wantErr: "cannot drop role app: cannot connect to the postgresql cluster as its administrator: dial tcp 127.0.0.1:1: connect: connection refused; deletion waits"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ref := dbv1alpha1.AdminConnection{SecretRef: dbv1alpha1.LocalSecretReference{Name: tc.secret}}
			e, err := Endpoint(context.Background(), kube, "team-a", ref)
			if err == nil {
				_, err = dial(context.Background(), e, ref, dialers)
			}
			if err == nil {
				t.Fatal("Connect: want an error")
			}
			ext, err := Unreachable[*dbv1alpha1.User](err, "role", "app")
			_, gone := ext.(mrsetup.Gone[*dbv1alpha1.User])
			if gone != tc.wantGone {
				t.Fatalf("released: want %v, got %v (%v)", tc.wantGone, gone, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("want an error with %q, got %v", tc.wantErr, err)
			}
		})
	}
}
