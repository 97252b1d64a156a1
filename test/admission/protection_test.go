package admission

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

// TestNamespaceProtection: a namespace the provider marked as holding a
// protected database cannot be deleted; unmarked, it can.
func TestNamespaceProtection(t *testing.T) {
	kube := setup(t)
	ctx := context.Background()
	applyFile(t, kube, "compositions/admission/namespace-protection.yaml")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "protected-team", Labels: map[string]string{dbv1alpha1.LabelProtectedDatabases: "true"}}}
	if err := kube.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	want := "namespace protected-team holds XDatabases with spec.deletionProtection: true; set it to false on each of them first"
	var err error
	// The policy takes effect a moment after it is created.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = kube.Delete(ctx, ns, client.DryRunAll); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("delete of a marked namespace: want refused with %q, got %v", want, err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	delete(ns.Labels, dbv1alpha1.LabelProtectedDatabases)
	if err := kube.Patch(ctx, ns, patch); err != nil {
		t.Fatal(err)
	}
	if err := kube.Delete(ctx, ns); err != nil {
		t.Errorf("delete of an unmarked namespace: %v", err)
	}
}
