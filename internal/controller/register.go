// Package controller wires every controller of the provider into a manager.
package controller

import (
	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/quorumdb/quorum/internal/controller/backup"
	"github.com/quorumdb/quorum/internal/controller/config"
	"github.com/quorumdb/quorum/internal/controller/database"
	"github.com/quorumdb/quorum/internal/controller/databasenode"
	"github.com/quorumdb/quorum/internal/controller/user"
	"github.com/quorumdb/quorum/internal/controller/virtualmachine"
	"github.com/quorumdb/quorum/internal/engine"
)

// Setup adds all controllers to the manager. VirtualMachines reconcile at
// most cloudRate times a second, below the others: they call cloud APIs
// whose request quotas are per subscription or project.
func Setup(mgr ctrl.Manager, o controller.Options, cloudRate int) error {
	vo := o
	vo.GlobalRateLimiter = ratelimiter.NewGlobal(cloudRate)
	vo.MaxConcurrentReconciles = min(o.MaxConcurrentReconciles, cloudRate)
	for _, setup := range []func(ctrl.Manager, controller.Options) error{
		config.Setup,
		func(mgr ctrl.Manager, o controller.Options) error { return backup.Setup(mgr, o, engine.Nodes) },
		func(mgr ctrl.Manager, o controller.Options) error { return databasenode.Setup(mgr, o, engine.Nodes) },
		func(mgr ctrl.Manager, o controller.Options) error { return user.Setup(mgr, o, engine.Accounts) },
		func(mgr ctrl.Manager, o controller.Options) error { return database.Setup(mgr, o, engine.Accounts) },
		func(mgr ctrl.Manager, _ controller.Options) error {
			return virtualmachine.Setup(mgr, vo, virtualmachine.Dial)
		},
	} {
		if err := setup(mgr, o); err != nil {
			return err
		}
	}
	return nil
}
