package dbadmin

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
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
