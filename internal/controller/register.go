// Package controller wires every controller of the provider into a manager.
package controller

import (
	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/quorumdb/quorum/internal/controller/backup"
	"github.com/quorumdb/quorum/internal/controller/config"
	"github.com/quorumdb/quorum/internal/controller/database"
	"github.com/quorumdb/quorum/internal/controller/databasenode"
	"github.com/quorumdb/quorum/internal/controller/user"
	"github.com/quorumdb/quorum/internal/controller/virtualmachine"
	"github.com/quorumdb/quorum/internal/engine"
)

// Setup adds all controllers to the manager.
func Setup(mgr ctrl.Manager, o controller.Options) error {
	for _, setup := range []func(ctrl.Manager, controller.Options) error{
		config.Setup,
		func(mgr ctrl.Manager, o controller.Options) error { return backup.Setup(mgr, o, engine.Nodes) },
		func(mgr ctrl.Manager, o controller.Options) error { return databasenode.Setup(mgr, o, engine.Nodes) },
		func(mgr ctrl.Manager, o controller.Options) error { return user.Setup(mgr, o, engine.Accounts) },
		func(mgr ctrl.Manager, o controller.Options) error { return database.Setup(mgr, o, engine.Accounts) },
		func(mgr ctrl.Manager, o controller.Options) error {
			return virtualmachine.Setup(mgr, o, virtualmachine.Dial)
		},
	} {
		if err := setup(mgr, o); err != nil {
			return err
		}
	}
	return nil
}
