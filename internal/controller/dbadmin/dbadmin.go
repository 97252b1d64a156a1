// Package dbadmin opens an administrator session on a database cluster for
// the User and Database controllers, from the admin connection Secret the
// cluster's first node publishes.
package dbadmin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
	"github.com/quorumdb/quorum/internal/protection"
)

// Endpoint reads the admin connection Secret.
func Endpoint(ctx context.Context, kube client.Reader, ns string, ref dbv1alpha1.AdminConnection) (accounts.Endpoint, error) {
	s := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.SecretRef.Name}, s); err != nil {
		return accounts.Endpoint{}, fmt.Errorf("cannot read the admin connection Secret %s named by spec.forProvider.admin.secretRef: %w", ref.SecretRef.Name, err)
	}
	d := s.Data
	e := accounts.Endpoint{
		Engine: string(d["engine"]), Username: string(d["username"]), Password: string(d["password"]),
		ReplicaSet: string(d["replicaSet"]), CA: d["ca.crt"],
	}
	if h := string(d["hosts"]); h != "" {
		e.Hosts = strings.Split(h, ",")
	}
	if p := string(d["port"]); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil {
			return accounts.Endpoint{}, fmt.Errorf("admin connection Secret %s: key port %q is not a number", ref.SecretRef.Name, p)
		}
		e.Port = port
	}
	var missing []string
	for k, v := range map[string]string{"engine": e.Engine, "hosts": string(d["hosts"]), "username": e.Username, "password": e.Password} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return accounts.Endpoint{}, fmt.Errorf("admin connection Secret %s lacks keys %v: waiting for the cluster's first node to publish them", ref.SecretRef.Name, slices.Sorted(slices.Values(missing)))
	}
	return e, nil
}

// dial opens an administrator session on the endpoint's engine.
func dial(ctx context.Context, e accounts.Endpoint, ref dbv1alpha1.AdminConnection, dialers map[string]accounts.Dialer) (accounts.Admin, error) {
	d, ok := dialers[e.Engine]
	if !ok {
		return nil, fmt.Errorf("admin connection Secret %s: engine %q is not supported", ref.SecretRef.Name, e.Engine)
	}
	a, err := d(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to the %s cluster as its administrator: %w", e.Engine, err)
	}
	return a, nil
}

// Target is the account or database a User or Database manages.
type Target struct {
	// Kind of the managed resource, and What it is in the engine ("role",
	// "database"), for messages.
	Kind, What string
	// Name in the engine.
	Name  string
	Admin dbv1alpha1.AdminConnection
	// Reserved says why Name cannot be used on an engine, or "".
	Reserved func(dbv1alpha1.Engine, string) string
}

// Open is how the User and Database controllers connect, one path for both
// so that their deletion rules cannot drift apart. Being deleted, mg is
// refused while its XDatabase protects it and let go (gone non-nil) with
// its cluster. An engine's own account or database is never touched:
// refused, or let go when deleted. Otherwise an administrator session,
// and a cluster that cannot be reached while deleting is let go only on an
// authoritative answer (Unreachable).
func Open[T resource.Managed](ctx context.Context, kube, api client.Reader, mg T, t Target, dialers map[string]accounts.Dialer) (adm accounts.Admin, ep accounts.Endpoint, gone managed.TypedExternalClient[T], err error) {
	deleting := meta.WasDeleted(mg)
	if deleting {
		// Protection first: a protected database is not going, whatever
		// its parts say.
		if xr, on, err := protection.Protected(ctx, api, mg); err != nil {
			return nil, ep, nil, err
		} else if on {
			return nil, ep, nil, protection.Refusal(t.Kind, mg.GetName(), xr)
		}
		if OwnerGoing(ctx, kube, api, mg) {
			// The whole database is being deleted: this goes with its
			// cluster, after the final backup, which must still hold it.
			return nil, ep, mrsetup.Gone[T]{}, nil
		}
	}
	ep, err = Endpoint(ctx, kube, mg.GetNamespace(), t.Admin)
	if err == nil {
		if why := t.Reserved(dbv1alpha1.Engine(ep.Engine), t.Name); why != "" {
			if deleting {
				return nil, ep, mrsetup.Gone[T]{}, nil
			}
			return nil, ep, nil, fmt.Errorf("spec.forProvider.name: %s: choose another name", why)
		}
		adm, err = dial(ctx, ep, t.Admin, dialers)
	}
	if err != nil {
		if deleting {
			gone, err = Unreachable[T](err, t.What, t.Name)
			return nil, ep, gone, err
		}
		return nil, ep, nil, err
	}
	return adm, ep, nil, nil
}

// Unreachable is what a User or Database being deleted gets when its
// cluster cannot be reached. Only an authoritative answer lets it go: the
// admin connection Secret is gone, which happens only once the cluster's
// nodes are (it is their connection Secret) or with the namespace. Any
// other failure (a host down, a timeout, a refused login) is retried with
// an error saying what blocks, rather than leave the role or database in
// place on a cluster that lives on.
func Unreachable[T resource.Managed](err error, what, name string) (managed.TypedExternalClient[T], error) {
	if kerrors.IsNotFound(err) {
		return mrsetup.Gone[T]{}, nil
	}
	return nil, fmt.Errorf("cannot drop %s %s: %w; deletion waits for the cluster to answer. If the cluster is gone for good, set spec.managementPolicies: [Observe] on this resource to release it", what, name, err)
}

// OwnerGoing reports whether the database that composed the object (its
// controller, an XDatabase) is being deleted. Users and Databases of a
// database that is going are not dropped one by one: the cluster goes with
// its final backup, which must still hold them.
//
// The XDatabase is read through api (uncached; the provider package asks
// for get on xdatabases): gone or being deleted means going. Without that
// access, the database's DatabaseNodes (composed by the same controller,
// the provider's own kind) tell: gone or going means going. Garbage
// collection deletes an XR's resources in no particular order, so the
// nodes alone can lag behind the users by a moment.
func OwnerGoing(ctx context.Context, kube, api client.Reader, o metav1.Object) bool {
	ref := metav1.GetControllerOf(o)
	if ref == nil {
		return false
	}
	if api != nil {
		owner := &unstructured.Unstructured{}
		owner.SetAPIVersion(ref.APIVersion)
		owner.SetKind(ref.Kind)
		err := api.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: ref.Name}, owner)
		switch {
		case kerrors.IsNotFound(err):
			return true
		case err == nil:
			if owner.GetDeletionTimestamp() != nil || owner.GetUID() != ref.UID {
				return true
			}
		}
	}
	l := &dbv1alpha1.DatabaseNodeList{}
	if err := kube.List(ctx, l, client.InNamespace(o.GetNamespace())); err != nil {
		return false
	}
	found := false
	for _, dn := range l.Items {
		if c := metav1.GetControllerOf(&dn); c != nil && c.UID == ref.UID {
			found = true
			if dn.DeletionTimestamp != nil {
				return true
			}
		}
	}
	return !found
}
