// Package config reconciles ProviderConfigs and ClusterProviderConfigs: it
// counts the managed resources using each one and refuses to let a config in
// use be deleted.
package config

import (
	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/event"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/providerconfig"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorumdb/quorum/apis/v1alpha1"
)

// Setup adds the controllers for both kinds of provider config.
func Setup(mgr ctrl.Manager, o controller.Options) error {
	if err := setup(mgr, o, v1alpha1.ProviderConfigGroupKind, resource.ProviderConfigKinds{
		Config:    v1alpha1.ProviderConfigGroupVersionKind,
		Usage:     v1alpha1.ProviderConfigUsageGroupVersionKind,
		UsageList: v1alpha1.ProviderConfigUsageListGroupVersionKind,
	}, &v1alpha1.ProviderConfig{}, &v1alpha1.ProviderConfigUsage{}, v1alpha1.ProviderConfigKind); err != nil {
		return err
	}
	return setup(mgr, o, v1alpha1.ClusterProviderConfigGroupKind, resource.ProviderConfigKinds{
		Config:    v1alpha1.ClusterProviderConfigGroupVersionKind,
		Usage:     v1alpha1.ClusterProviderConfigUsageGroupVersionKind,
		UsageList: v1alpha1.ClusterProviderConfigUsageListGroupVersionKind,
	}, &v1alpha1.ClusterProviderConfig{}, &v1alpha1.ClusterProviderConfigUsage{}, v1alpha1.ClusterProviderConfigKind)
}

func setup(mgr ctrl.Manager, o controller.Options, gk string, of resource.ProviderConfigKinds, cfg, usage client.Object, kind string) error {
	name := providerconfig.ControllerName(gk)
	r := providerconfig.NewReconciler(mgr, of,
		providerconfig.WithLogger(o.Logger.WithValues("controller", name)),
		providerconfig.WithRecorder(event.NewAPIRecorder(mgr.GetEventRecorderFor(name)))) //nolint:staticcheck // crossplane-runtime still takes the legacy recorder.

	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(o.ForControllerRuntime()).
		For(cfg).
		Watches(usage, &resource.EnqueueRequestForProviderConfig{Kind: kind}).
		Complete(ratelimiter.NewReconciler(name, r, o.GlobalRateLimiter))
}
