package xdatabase

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

// TestToStruct: the direct encoder gives what the unstructured converter
// and structpb.NewStruct give, for every kind the function composes.
func TestToStruct(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	node := &dbv1alpha1.DatabaseNode{ObjectMeta: metav1.ObjectMeta{Name: "orders-0", Namespace: "team-a", Labels: map[string]string{"a": "b"}}}
	node.Spec.ForProvider = dbv1alpha1.DatabaseNodeParameters{
		Engine: "postgresql", Version: "15", Host: "10.0.0.1", Port: 5432, CPUs: 2, MemoryMiB: 4096,
		Cluster:     dbv1alpha1.ClusterMembership{Name: "orders", Members: []dbv1alpha1.Member{{Name: "orders-0", Address: "10.0.0.1"}}, BootstrapRole: "primary"},
		Backup:      &dbv1alpha1.BackupRepository{Type: "s3", Path: "p", CredentialsSecretRef: &dbv1alpha1.RepositoryCredentialsReference{Name: "c", Namespace: "crossplane-system"}},
		RestoreFrom: &dbv1alpha1.RestoreSource{Cluster: "old", Repository: dbv1alpha1.BackupRepository{Type: "filesystem", Path: "q"}, PointInTime: &at},
		Parameters:  map[string]string{"work_mem": "64MB"},
	}
	vm := &computev1alpha1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: "orders-0"}}
	vm.Spec.ForProvider.CPUs, vm.Spec.ForProvider.DataDisks = 2, []computev1alpha1.Disk{{Name: "data", SizeGiB: 20}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"password": []byte("pw\x00\xff")}, Type: corev1.SecretTypeOpaque}
	for _, o := range []runtime.Object{node, vm, secret, &dbv1alpha1.User{}, &dbv1alpha1.Backup{}} {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		want, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := toStruct(o)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%T: -converter +toStruct:\n%s", o, diff)
		}
	}
}
