package user

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
)

// TestReservedNames: a User named after one of the engine's own accounts
// is refused before the cluster is touched, and one being deleted is let
// go without dropping the system account.
func TestReservedNames(t *testing.T) {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = dbv1alpha1.SchemeBuilder.AddToScheme(s)
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db-admin"},
		Data:       map[string][]byte{"engine": []byte("postgresql"), "hosts": []byte("10.0.0.1"), "username": []byte("quorum_admin"), "password": []byte("pw")},
	}).Build()
	dialed := false
	c := &connector{kube: kube, dialers: map[string]accounts.Dialer{"postgresql": func(context.Context, accounts.Endpoint) (accounts.Admin, error) {
		dialed = true
		return nil, errors.New("not in this test")
	}}}
	user := func(name string, deleting bool) *dbv1alpha1.User {
		u := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db-" + strings.ReplaceAll(name, "_", "-")},
			Spec: dbv1alpha1.UserSpec{ForProvider: dbv1alpha1.UserParameters{Name: name, Admin: dbv1alpha1.AdminConnection{SecretRef: dbv1alpha1.LocalSecretReference{Name: "db-admin"}}}}}
		if deleting {
			now := metav1.Now()
			u.DeletionTimestamp = &now
		}
		return u
	}
	for _, name := range []string{"postgres", "replicator", "quorum_admin", "pg_monitor"} {
		t.Run(name, func(t *testing.T) {
			dialed = false
			_, err := c.Connect(context.Background(), user(name, false))
			if err == nil || !strings.HasPrefix(err.Error(), "spec.forProvider.name: "+name) || dialed {
				t.Errorf("Connect: want a refusal naming the field before any dial, got %v (dialed %v)", err, dialed)
			}
			ext, err := c.Connect(context.Background(), user(name, true))
			if _, gone := ext.(mrsetup.Gone[*dbv1alpha1.User]); !gone || err != nil || dialed {
				t.Errorf("Connect while deleting: want released without dropping, got %T, %v (dialed %v)", ext, err, dialed)
			}
		})
	}
	if _, err := c.Connect(context.Background(), user("app", false)); err == nil || !dialed {
		t.Errorf("an ordinary name: want a dial, got %v (dialed %v)", err, dialed)
	}
}
