// Package user reconciles User managed resources: a role or login with a
// password, grants and a connection Secret, in any engine that implements
// accounts.Admin.
//
// The password lives in exactly one place: the Secret named by
// spec.forProvider.passwordSecretRef, or else the User's own connection
// Secret. A generated password is written to the connection Secret before the
// database is told about it, so a crash between the two never loses it: the
// next reconcile finds the password in the Secret and sets it again.
package user

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/connstr"
	"github.com/quorumdb/quorum/internal/controller/dbadmin"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
)

// passwordLength of generated passwords: 32 of 62 symbols, 190 bits.
const passwordLength = 32

// Setup adds the User controller.
func Setup(mgr ctrl.Manager, o controller.Options, dialers map[string]accounts.Dialer) error {
	c := &connector{kube: mgr.GetClient(), api: mgr.GetAPIReader(), dialers: dialers, secrets: managed.NewAPILocalSecretPublisher(mgr.GetClient(), mgr.GetScheme())}
	return mrsetup.Setup(mgr, o, dbv1alpha1.UserGroupVersionKind, &dbv1alpha1.User{}, &dbv1alpha1.UserList{}, c)
}

type connector struct {
	kube    client.Client
	api     client.Reader
	dialers map[string]accounts.Dialer
	secrets *managed.APILocalSecretPublisher
}

func (c *connector) Connect(ctx context.Context, u *dbv1alpha1.User) (managed.TypedExternalClient[*dbv1alpha1.User], error) {
	adm, ep, gone, err := dbadmin.Open(ctx, c.kube, c.api, u, dbadmin.Target{
		Kind: "User", What: "role", Name: u.Spec.ForProvider.Name, Admin: u.Spec.ForProvider.Admin, Reserved: dbv1alpha1.ReservedUser,
	}, c.dialers)
	if gone != nil || err != nil {
		return gone, err
	}
	return &external{kube: c.kube, admin: adm, endpoint: ep, secrets: c.secrets}, nil
}

type external struct {
	kube     client.Client
	admin    accounts.Admin
	endpoint accounts.Endpoint
	secrets  *managed.APILocalSecretPublisher
	// observed is the last observation, so Update knows what to repair.
	observed *accounts.ObservedUser
}

// desired is the user's desired state with its current password: from the
// referenced Secret, else from the connection Secret (empty before the first
// create or when that Secret was deleted).
func (e *external) desired(ctx context.Context, u *dbv1alpha1.User) (accounts.User, error) {
	p := u.Spec.ForProvider
	d := accounts.User{Name: p.Name, ConnectionLimit: p.ConnectionLimit, Grants: make([]accounts.Grant, len(p.Grants))}
	for i, g := range p.Grants {
		d.Grants[i] = accounts.Grant{Database: g.Database, Privilege: g.Privilege}
	}
	if ref := p.PasswordSecretRef; ref != nil {
		s := &corev1.Secret{}
		if err := e.kube.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: ref.Name}, s); err != nil {
			return d, fmt.Errorf("cannot read the Secret %s named by spec.forProvider.passwordSecretRef: %w", ref.Name, err)
		}
		if len(s.Data[ref.Key]) == 0 {
			return d, fmt.Errorf("the Secret %s named by spec.forProvider.passwordSecretRef has no key %s", ref.Name, ref.Key)
		}
		d.Password = string(s.Data[ref.Key])
		return d, nil
	}
	if ref := u.Spec.WriteConnectionSecretToReference; ref != nil {
		s := &corev1.Secret{}
		err := e.kube.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: ref.Name}, s)
		if err != nil && !kerrors.IsNotFound(err) {
			return d, fmt.Errorf("cannot read the connection Secret %s: %w", ref.Name, err)
		}
		d.Password = string(s.Data["password"])
	}
	return d, nil
}

func (e *external) details(u *dbv1alpha1.User, password string) managed.ConnectionDetails {
	db := ""
	if len(u.Spec.ForProvider.Grants) > 0 {
		db = u.Spec.ForProvider.Grants[0].Database
	}
	ep := e.endpoint
	d := connstr.Details(connstr.Endpoint{
		Engine: ep.Engine, Hosts: ep.Hosts, Port: int32(ep.Port), Username: u.Spec.ForProvider.Name, Password: password,
		Database: db, ReplicaSet: ep.ReplicaSet, TLS: len(ep.CA) > 0,
	})
	if len(ep.CA) > 0 {
		d["ca.crt"] = ep.CA
	}
	return d
}

// newPassword generates a password and stores it in the connection Secret
// before anything uses it.
func (e *external) newPassword(ctx context.Context, u *dbv1alpha1.User) (string, error) {
	if u.Spec.WriteConnectionSecretToReference == nil {
		return "", errors.New("a generated password needs somewhere to go: set spec.writeConnectionSecretToRef, or give one with spec.forProvider.passwordSecretRef")
	}
	pw, err := accounts.Password(passwordLength)
	if err != nil {
		return "", err
	}
	if _, err := e.secrets.PublishConnection(ctx, u, e.details(u, pw)); err != nil {
		return "", fmt.Errorf("cannot store the new password in the connection Secret: %w", err)
	}
	return pw, nil
}

func rotationRequested(u *dbv1alpha1.User) bool {
	p := u.Spec.ForProvider
	return p.PasswordSecretRef == nil && p.RotatePasswordAfter != u.Status.AtProvider.PasswordRotation
}

func (e *external) Observe(ctx context.Context, u *dbv1alpha1.User) (managed.ExternalObservation, error) {
	d, err := e.desired(ctx, u)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	o, err := e.admin.ObserveUser(ctx, d)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	if o == nil {
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	e.observed = o
	ap := &u.Status.AtProvider
	ap.Grants = ap.Grants[:0]
	for _, g := range o.Grants {
		ap.Grants = append(ap.Grants, dbv1alpha1.Grant{Database: g.Database, Privilege: g.Privilege})
	}
	switch {
	case !o.PasswordMatches:
		u.SetConditions(xpv2.Unavailable().WithMessage("the password in force is not the one in the Secret; setting it"))
	case len(o.Drift) > 0:
		u.SetConditions(xpv2.Available().WithMessage("repairing: " + strings.Join(o.Drift, "; ")))
	default:
		u.SetConditions(xpv2.Available())
	}
	obs := managed.ExternalObservation{
		ResourceExists:   true,
		ResourceUpToDate: o.PasswordMatches && len(o.Drift) == 0 && !rotationRequested(u),
	}
	if o.PasswordMatches {
		obs.ConnectionDetails = e.details(u, d.Password)
	}
	return obs, nil
}

func (e *external) Create(ctx context.Context, u *dbv1alpha1.User) (managed.ExternalCreation, error) {
	u.SetConditions(xpv2.Creating())
	d, err := e.desired(ctx, u)
	if err != nil {
		return managed.ExternalCreation{}, err
	}
	if d.Password == "" {
		// First create, or a retry after a crash before the Secret was
		// written: the password is stored before the role exists.
		if d.Password, err = e.newPassword(ctx, u); err != nil {
			return managed.ExternalCreation{}, err
		}
	}
	if err := e.admin.CreateUser(ctx, d); err != nil {
		return managed.ExternalCreation{}, err
	}
	u.Status.AtProvider.PasswordRotation = u.Spec.ForProvider.RotatePasswordAfter
	// Grants in the same pass (one reconcile fewer); when a granted database
	// does not exist yet the error says so and Update finishes the job.
	return managed.ExternalCreation{ConnectionDetails: e.details(u, d.Password)}, e.admin.UpdateUser(ctx, d, false)
}

func (e *external) Update(ctx context.Context, u *dbv1alpha1.User) (managed.ExternalUpdate, error) {
	d, err := e.desired(ctx, u)
	if err != nil {
		return managed.ExternalUpdate{}, err
	}
	setPassword := e.observed == nil || !e.observed.PasswordMatches
	if rotationRequested(u) || d.Password == "" {
		if d.Password, err = e.newPassword(ctx, u); err != nil {
			return managed.ExternalUpdate{}, err
		}
		setPassword = true
		// Recorded now: the new password is already in the Secret, so a
		// failure below is repaired by setting the same password again
		// rather than generating yet another.
		u.Status.AtProvider.PasswordRotation = u.Spec.ForProvider.RotatePasswordAfter
	}
	if err := e.admin.UpdateUser(ctx, d, setPassword); err != nil {
		return managed.ExternalUpdate{}, err
	}
	return managed.ExternalUpdate{ConnectionDetails: e.details(u, d.Password)}, nil
}

func (e *external) Delete(ctx context.Context, u *dbv1alpha1.User) (managed.ExternalDelete, error) {
	u.SetConditions(xpv2.Deleting())
	return managed.ExternalDelete{}, e.admin.DropUser(ctx, u.Spec.ForProvider.Name)
}

func (e *external) Disconnect(ctx context.Context) error { return e.admin.Close(ctx) }
