// Package database reconciles Database managed resources: a logical database
// with its owner, in any engine that implements accounts.Admin.
package database

import (
	"context"
	"fmt"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/controller/dbadmin"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
)

// Setup adds the Database controller.
func Setup(mgr ctrl.Manager, o controller.Options, dialers map[string]accounts.Dialer) error {
	return mrsetup.Setup(mgr, o, dbv1alpha1.DatabaseGroupVersionKind, &dbv1alpha1.Database{}, &dbv1alpha1.DatabaseList{}, &connector{kube: mgr.GetClient(), api: mgr.GetAPIReader(), dialers: dialers})
}

type connector struct {
	kube    client.Reader
	api     client.Reader
	dialers map[string]accounts.Dialer
}

func (c *connector) Connect(ctx context.Context, d *dbv1alpha1.Database) (managed.TypedExternalClient[*dbv1alpha1.Database], error) {
	adm, _, gone, err := dbadmin.Open(ctx, c.kube, c.api, d, dbadmin.Target{
		Kind: "Database", What: "database", Name: d.Spec.ForProvider.Name, Admin: d.Spec.ForProvider.Admin, Reserved: dbv1alpha1.ReservedDatabase,
	}, c.dialers)
	if gone != nil || err != nil {
		return gone, err
	}
	return &external{admin: adm}, nil
}

type external struct{ admin accounts.Admin }

func (e *external) Observe(ctx context.Context, d *dbv1alpha1.Database) (managed.ExternalObservation, error) {
	p := d.Spec.ForProvider
	o, err := e.admin.ObserveDatabase(ctx, p.Name)
	if err != nil || o == nil {
		return managed.ExternalObservation{ResourceExists: false}, err
	}
	d.Status.AtProvider = dbv1alpha1.DatabaseObservation{Owner: o.Owner, SizeBytes: o.SizeBytes}
	upToDate := p.Owner == "" || p.Owner == o.Owner
	if upToDate {
		d.SetConditions(xpv2.Available())
	} else {
		d.SetConditions(xpv2.Available().WithMessage(fmt.Sprintf("owned by %q, want %q; repairing", o.Owner, p.Owner)))
	}
	return managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: upToDate}, nil
}

func (e *external) Create(ctx context.Context, d *dbv1alpha1.Database) (managed.ExternalCreation, error) {
	d.SetConditions(xpv2.Creating())
	return managed.ExternalCreation{}, e.admin.CreateDatabase(ctx, d.Spec.ForProvider.Name, d.Spec.ForProvider.Owner)
}

func (e *external) Update(ctx context.Context, d *dbv1alpha1.Database) (managed.ExternalUpdate, error) {
	return managed.ExternalUpdate{}, e.admin.UpdateDatabase(ctx, d.Spec.ForProvider.Name, d.Spec.ForProvider.Owner)
}

func (e *external) Delete(ctx context.Context, d *dbv1alpha1.Database) (managed.ExternalDelete, error) {
	d.SetConditions(xpv2.Deleting())
	return managed.ExternalDelete{}, e.admin.DropDatabase(ctx, d.Spec.ForProvider.Name)
}

func (e *external) Disconnect(ctx context.Context) error { return e.admin.Close(ctx) }
