package mrsetup

import (
	"context"
	"testing"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

// apiFinalizer stands in for the APIFinalizer: it counts the writes.
type apiFinalizer struct{ adds, removes int }

func (f *apiFinalizer) AddFinalizer(_ context.Context, o resource.Object) error {
	f.adds++
	meta.AddFinalizer(o, managed.FinalizerName)
	return nil
}

func (f *apiFinalizer) RemoveFinalizer(_ context.Context, o resource.Object) error {
	f.removes++
	meta.RemoveFinalizer(o, managed.FinalizerName)
	return nil
}

func TestDeferredFinalizer(t *testing.T) {
	now := metav1.Now()
	type want struct {
		Finalizer bool
		Writes    int
	}
	cases := map[string]struct {
		reason   string
		absent   bool
		deleting bool
		policies xpv2.ManagementPolicies
		has      bool
		want     want
	}{
		"AbsentDefers":        {reason: "Just observed absent: the finalizer waits in memory for the create-pending Update.", absent: true, want: want{Finalizer: true, Writes: 0}},
		"ExistsWrites":        {reason: "The external resource exists: no create-pending Update follows, so the finalizer is written.", absent: false, want: want{Finalizer: true, Writes: 1}},
		"DeletingWrites":      {reason: "A resource being deleted is never deferred.", absent: true, deleting: true, want: want{Finalizer: true, Writes: 1}},
		"ObserveOnlyWrites":   {reason: "A policy without Create means no create-pending Update: written.", absent: true, policies: xpv2.ManagementPolicies{xpv2.ManagementActionObserve}, want: want{Finalizer: true, Writes: 1}},
		"CreateAllowedDefers": {reason: "A policy with Create defers like the default.", absent: true, policies: xpv2.ManagementPolicies{xpv2.ManagementActionObserve, xpv2.ManagementActionCreate}, want: want{Finalizer: true, Writes: 0}},
		"AlreadyThere":        {reason: "A finalizer already present needs nothing.", absent: false, has: true, want: want{Finalizer: true, Writes: 0}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Name: "u", UID: "uid-1"}}
			u.SetManagementPolicies(tc.policies)
			if tc.deleting {
				u.SetDeletionTimestamp(&now)
			}
			if tc.has {
				meta.AddFinalizer(u, managed.FinalizerName)
			}
			api := &apiFinalizer{}
			seen := &absences{}
			seen.set(u.GetUID(), tc.absent)
			f := deferredFinalizer{api: api, seen: seen}
			if err := f.AddFinalizer(context.Background(), u); err != nil {
				t.Fatal(err)
			}
			got := want{Finalizer: meta.FinalizerExists(u, managed.FinalizerName), Writes: api.adds}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nAddFinalizer: -want, +got:\n%s", tc.reason, diff)
			}
		})
	}
}

// TestDeferredFinalizerUnobserved: a resource never observed (an error, or
// a reconcile that did not get that far) is written, not deferred.
func TestDeferredFinalizerUnobserved(t *testing.T) {
	api := &apiFinalizer{}
	f := deferredFinalizer{api: api, seen: &absences{}}
	u := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Name: "u", UID: "uid-2"}}
	if err := f.AddFinalizer(context.Background(), u); err != nil || api.adds != 1 {
		t.Errorf("AddFinalizer of an unobserved resource: writes %d, err %v; want 1 write", api.adds, err)
	}
	if err := f.RemoveFinalizer(context.Background(), u); err != nil || api.removes != 1 || meta.FinalizerExists(u, managed.FinalizerName) {
		t.Errorf("RemoveFinalizer: removes %d, err %v", api.removes, err)
	}
}
