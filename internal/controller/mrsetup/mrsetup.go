// Package mrsetup wires one managed resource kind into the manager the way
// every controller of this provider does: typed external connector, logger,
// poll interval, events, management policies, metrics and rate limiting.
package mrsetup

import (
	"context"
	"errors"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/event"
	"github.com/crossplane/crossplane-runtime/v2/pkg/feature"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
	"github.com/crossplane/crossplane-runtime/v2/pkg/statemetrics"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Setup adds a managed reconciler for obj's kind (gvk) with connector c.
// list is the kind's list type, for the managed resource state metrics.
func Setup[T resource.Managed](mgr ctrl.Manager, o controller.Options, gvk schema.GroupVersionKind, obj T, list resource.ManagedList, c managed.TypedExternalConnector[T], extra ...managed.ReconcilerOption) error {
	return SetupWatching(mgr, o, gvk, obj, list, c, nil, extra...)
}

// SettlingInterval is the shortest wait between two observations of a
// resource that is not Ready yet.
const SettlingInterval = time.Second

// SettlingPoll observes a resource that is still coming up sooner than the
// poll interval: an external resource becomes ready on its own (a VM boots,
// Patroni bootstraps), and waiting the poll interval for it was most of a
// database's provisioning time. The wait grows with the resource's age (a
// tenth of it, at least a second), so a thousand new resources do not poll
// a cloud API every second for long, and one that stays not Ready (failing,
// and saying why) is soon observed at the poll interval. Ready resources
// are observed at the poll interval.
func SettlingPoll(mg resource.Managed, poll time.Duration) time.Duration {
	if mg.GetCondition(xpv2.TypeReady).Status == corev1.ConditionTrue {
		return poll
	}
	return min(poll, max(SettlingInterval, time.Since(mg.GetCreationTimestamp().Time)/10))
}

// A Watch reconciles resources of the kind when another object changes.
type Watch struct {
	Object  client.Object
	Handler handler.EventHandler
}

// SetupWatching is Setup with extra watches.
func SetupWatching[T resource.Managed](mgr ctrl.Manager, o controller.Options, gvk schema.GroupVersionKind, obj T, list resource.ManagedList, c managed.TypedExternalConnector[T], watches []Watch, extra ...managed.ReconcilerOption) error {
	name := managed.ControllerName(gvk.GroupKind().String())
	c, deferred := Deferred(mgr.GetClient(), c)
	opts := []managed.ReconcilerOption{
		managed.WithTypedExternalConnector[T](c),
		managed.WithLogger(o.Logger.WithValues("controller", name)),
		managed.WithPollInterval(o.PollInterval),
		managed.WithPollIntervalHook(SettlingPoll),
		managed.WithRecorder(event.NewAPIRecorder(mgr.GetEventRecorderFor(name))), //nolint:staticcheck // crossplane-runtime still takes the legacy recorder.
	}
	// Before extra: a kind's own initializers replace the deferred name.
	opts = append(opts, deferred...)
	if o.Features.Enabled(feature.EnableBetaManagementPolicies) {
		opts = append(opts, managed.WithManagementPolicies())
	}
	if o.MetricOptions != nil {
		opts = append(opts, managed.WithMetricRecorder(o.MetricOptions.MRMetrics))
		if o.MetricOptions.MRStateMetrics != nil {
			if err := mgr.Add(statemetrics.NewMRStateRecorder(mgr.GetClient(), o.Logger, o.MetricOptions.MRStateMetrics, list, o.MetricOptions.PollStateMetricInterval)); err != nil {
				return err
			}
		}
	}
	r := managed.NewReconciler(mgr, resource.ManagedKind(gvk), append(opts, extra...)...)
	b := ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		WithEventFilter(resource.DesiredStateChanged()).
		For(obj)
	for _, w := range watches {
		b = b.Watches(w.Object, w.Handler)
	}
	return b.Complete(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
}

// Gone is the external client of a resource being deleted whose external
// system is authoritatively gone (its VM deleted on the platform, its
// cluster's Secrets deleted with the cluster or the namespace): it reports
// the resource absent so deletion completes. Never for a system that merely
// does not answer: that is retried.
type Gone[T resource.Managed] struct{}

// Observe reports the resource absent.
func (Gone[T]) Observe(context.Context, T) (managed.ExternalObservation, error) {
	return managed.ExternalObservation{ResourceExists: false}, nil
}

// Create refuses: the external system is gone.
func (Gone[T]) Create(context.Context, T) (managed.ExternalCreation, error) {
	return managed.ExternalCreation{}, errors.New("the external system is gone")
}

// Update refuses: the external system is gone.
func (Gone[T]) Update(context.Context, T) (managed.ExternalUpdate, error) {
	return managed.ExternalUpdate{}, errors.New("the external system is gone")
}

// Delete has nothing to do.
func (Gone[T]) Delete(context.Context, T) (managed.ExternalDelete, error) {
	return managed.ExternalDelete{}, nil
}

// Disconnect has nothing to close.
func (Gone[T]) Disconnect(context.Context) error { return nil }

// WhenDeleted is a Watch that reconciles the objects released when an object
// of obj's kind is deleted (those that were waiting for it), at once and
// again after confirm: a resource released from a wait has failed its
// deletion a few times, and the reconciler's own requeue to confirm its
// deletion waits out that backoff (half a minute after five failures).
func WhenDeleted(obj client.Object, released func(ctx context.Context, deleted client.Object) []reconcile.Request, confirm time.Duration) Watch {
	return Watch{Object: obj, Handler: handler.Funcs{
		DeleteFunc: func(ctx context.Context, e ctrlevent.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			for _, r := range released(ctx, e.Object) {
				q.Add(r)
				// Not AddAfter: the queue would fold it into the Add above,
				// still pending, and it would wait for the backoff.
				time.AfterFunc(confirm, func() { q.Add(r) })
			}
		},
	}}
}
