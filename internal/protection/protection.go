// Package protection keeps a protected database's data where it is: the
// managed resources an XDatabase with spec.deletionProtection composes
// refuse to delete their external resources (the VM waits for its node,
// which refuses), and the namespace that holds one is marked so that an
// admission policy refuses to delete it (compositions/admission/
// namespace-protection.yaml): deleting a namespace would delete the
// Secrets a final backup needs.
package protection

import (
	"context"
	"fmt"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

const (
	// Label is set ("true") by the composition function on every resource
	// of an XDatabase whose deletion protection is on. It is a hint: the
	// XDatabase itself decides (Protected).
	Label = dbv1alpha1.LabelDeletionProtection
	// NamespaceLabel marks a namespace holding a protected database.
	NamespaceLabel = dbv1alpha1.LabelProtectedDatabases
)

// Protected returns the name of the XDatabase that composed o when its
// deletion protection is on. The label alone never decides: the XDatabase
// is read (through api, uncached; the provider package asks for get on
// xdatabases), and it protects only while it exists, is not being deleted
// (which its own admission policy allows only once protection is off) and
// says deletionProtection: true. An XDatabase deleted right after its
// protection was lifted, before its resources' labels were updated, does
// not hold them back.
func Protected(ctx context.Context, api client.Reader, o metav1.Object) (string, bool, error) {
	if o.GetLabels()[Label] != "true" {
		return "", false, nil
	}
	ref := metav1.GetControllerOf(o)
	if ref == nil {
		return "", false, nil
	}
	if api == nil {
		// Nothing to ask: the label stands.
		return ref.Name, true, nil
	}
	xr := &unstructured.Unstructured{}
	xr.SetAPIVersion(ref.APIVersion)
	xr.SetKind(ref.Kind)
	err := api.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: ref.Name}, xr)
	if kerrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		// Unknown is protected: deleting data is the one thing not to do
		// on a guess.
		return ref.Name, true, fmt.Errorf("cannot read %s %s to tell whether its deletion protection is on: %w", ref.Kind, ref.Name, err)
	}
	if xr.GetDeletionTimestamp() != nil || xr.GetUID() != ref.UID {
		return "", false, nil
	}
	on, _, _ := unstructured.NestedBool(xr.Object, "spec", "deletionProtection")
	return ref.Name, on, nil
}

// Refusal is the error a protected resource's deletion waits with.
func Refusal(kind, name, xr string) error {
	return fmt.Errorf("%s %s belongs to XDatabase %s, whose spec.deletionProtection is true: it keeps running with its data; set deletionProtection: false on the XDatabase to let it go", kind, name, xr)
}
