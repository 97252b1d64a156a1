package mrsetup

import (
	"context"
	"slices"
	"sync"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A new managed resource is written by crossplane-runtime four times before
// its external resource is created: its external name, its finalizer, the
// create-pending annotation, the create-succeeded annotation. The first two
// need no write of their own when the resource's external resource is
// absent: the create-pending Update that follows at once persists them
// with it, before anything is created. Each saved write is also one less
// stale read and 409 in the reconcile after it.

// absences remembers, per resource, whether its last observation found no
// external resource.
type absences struct{ m sync.Map } // types.UID -> bool

func (a *absences) set(uid types.UID, absent bool) { a.m.Store(uid, absent) }

func (a *absences) absent(uid types.UID) bool {
	v, ok := a.m.Load(uid)
	return ok && v.(bool)
}

// observingConnector records what its clients' Observe found.
type observingConnector[T resource.Managed] struct {
	managed.TypedExternalConnector[T]
	seen *absences
}

func (c observingConnector[T]) Connect(ctx context.Context, mg T) (managed.TypedExternalClient[T], error) {
	e, err := c.TypedExternalConnector.Connect(ctx, mg)
	if err != nil {
		return nil, err
	}
	return observingClient[T]{TypedExternalClient: e, seen: c.seen}, nil
}

type observingClient[T resource.Managed] struct {
	managed.TypedExternalClient[T]
	seen *absences
}

func (c observingClient[T]) Observe(ctx context.Context, mg T) (managed.ExternalObservation, error) {
	o, err := c.TypedExternalClient.Observe(ctx, mg)
	c.seen.set(mg.GetUID(), err == nil && !o.ResourceExists)
	return o, err
}

// deferredName is crossplane-runtime's NameAsExternalName without its own
// write: an external name absent from the API server means no create was
// ever started (the create-pending Update would have persisted it), so it
// is set in memory and persisted with that Update, or with the finalizer's
// when the external resource already exists.
type deferredName struct{}

func (deferredName) Initialize(_ context.Context, mg resource.Managed) error {
	if meta.GetExternalName(mg) == "" {
		meta.SetExternalName(mg, mg.GetName())
	}
	return nil
}

// deferredFinalizer adds the finalizer in memory only when the resource's
// external resource was just observed absent, it is not being deleted and
// its policy lets the reconciler create it: then the create-pending Update
// persists it before the external resource exists. Otherwise it writes as
// crossplane-runtime's APIFinalizer does.
type deferredFinalizer struct {
	api  resource.Finalizer
	seen *absences
}

func (f deferredFinalizer) AddFinalizer(ctx context.Context, obj resource.Object) error {
	if meta.FinalizerExists(obj, managed.FinalizerName) {
		return nil
	}
	mg, ok := obj.(resource.Managed)
	if ok && obj.GetDeletionTimestamp() == nil && f.seen.absent(obj.GetUID()) && creates(mg) {
		meta.AddFinalizer(obj, managed.FinalizerName)
		return nil
	}
	return f.api.AddFinalizer(ctx, obj)
}

func (f deferredFinalizer) RemoveFinalizer(ctx context.Context, obj resource.Object) error {
	if err := f.api.RemoveFinalizer(ctx, obj); err != nil {
		return err
	}
	f.seen.m.Delete(obj.GetUID())
	return nil
}

// creates reports whether the resource's management policies let the
// reconciler create its external resource.
func creates(mg resource.Managed) bool {
	p := mg.GetManagementPolicies()
	return len(p) == 0 || slices.Contains(p, xpv2.ManagementActionAll) || slices.Contains(p, xpv2.ManagementActionCreate)
}

// Deferred wraps a kind's connector and returns the reconciler options that
// defer the external name and finalizer writes; SetupWatching applies them
// to every kind, tests use them to reconcile as the provider does.
func Deferred[T resource.Managed](kube client.Client, c managed.TypedExternalConnector[T]) (managed.TypedExternalConnector[T], []managed.ReconcilerOption) {
	seen := &absences{}
	return observingConnector[T]{TypedExternalConnector: c, seen: seen}, []managed.ReconcilerOption{
		managed.WithInitializers(deferredName{}),
		managed.WithFinalizer(deferredFinalizer{api: resource.NewAPIFinalizer(kube, managed.FinalizerName), seen: seen}),
	}
}
