package databasenode

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/pki"
)

// A filler adds the keys a Secret lacks, reporting whether it added any. It
// must never replace a key already set: every node of a cluster fills the
// same Secret and the first to write wins.
type filler func(data map[string][]byte) (bool, error)

// managedLabel marks Secrets the provider created. Only those get the nodes
// as owners: a Secret a user made stays the user's.
const managedLabel = "db.m.quorum.dev/created-by-provider"

// ensureSecret returns the data of a cluster-wide Secret, creating it or
// completing its keys on first use. Every node of the cluster adds itself as
// an owner of a Secret the provider created, so the Secret is
// garbage-collected with the last of them rather than left behind when the
// database is deleted.
func ensureSecret(ctx context.Context, kube client.Client, dn *dbv1alpha1.DatabaseNode, name string, fill filler) (map[string][]byte, error) {
	owner := meta.AsOwner(meta.TypedReferenceTo(dn, dbv1alpha1.DatabaseNodeGroupVersionKind))
	for range 5 {
		s := &corev1.Secret{}
		err := kube.Get(ctx, client.ObjectKey{Namespace: dn.Namespace, Name: name}, s)
		if kerrors.IsNotFound(err) {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: dn.Namespace, Name: name, OwnerReferences: []metav1.OwnerReference{owner}, Labels: map[string]string{managedLabel: "true"}},
				Type: corev1.SecretTypeOpaque, Data: map[string][]byte{}}
			if _, err := fill(s.Data); err != nil {
				return nil, err
			}
			if err := kube.Create(ctx, s); err != nil && !kerrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("cannot create the Secret %s: %w", name, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the Secret %s: %w", name, err)
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		changed, err := fill(s.Data)
		if err != nil {
			return nil, err
		}
		owned := slices.ContainsFunc(s.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == dn.UID })
		if !owned && dn.UID != "" && !meta.WasDeleted(dn) && s.Labels[managedLabel] == "true" {
			s.OwnerReferences = append(s.OwnerReferences, owner)
			changed = true
		}
		if !changed {
			return s.Data, nil
		}
		if err := kube.Update(ctx, s); err != nil && !kerrors.IsConflict(err) {
			return nil, fmt.Errorf("cannot update the Secret %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("cannot settle the Secret %s: it keeps changing", name)
}

// passwords fills the cluster's admin password (under key) and its
// replication password, 32 characters from crypto/rand each.
func passwords(key string) filler {
	return func(d map[string][]byte) (bool, error) {
		changed := false
		for _, k := range []string{key, keyReplicationPassword} {
			if len(d[k]) > 0 {
				continue
			}
			pw, err := accounts.Password(32)
			if err != nil {
				return false, err
			}
			d[k], changed = []byte(pw), true
		}
		return changed, nil
	}
}

// Keys of the CA and node certificate Secrets.
const (
	keyCACert  = "ca.crt"
	keyCAKey   = "ca.key"
	keyTLSCert = "tls.crt"
	keyTLSKey  = "tls.key"
)

// tls returns the node's certificate, issued from the cluster's CA (created
// on first use) for the node's address and name, and reissued when the CA,
// the address or the expiry call for it.
func (c *connector) tls(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (*node.TLS, error) {
	p := dn.Spec.ForProvider
	now := time.Now()
	ca, err := ensureSecret(ctx, c.kube, dn, p.TLS.CASecretRef.Name, func(d map[string][]byte) (bool, error) {
		if len(d[keyCACert]) > 0 && len(d[keyCAKey]) > 0 {
			return false, nil
		}
		pair, err := pki.NewCA(p.Cluster.Name, now)
		if err != nil {
			return false, fmt.Errorf("cannot create the cluster's CA: %w", err)
		}
		d[keyCACert], d[keyCAKey] = pair.Cert, pair.Key
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	caPair := pki.Pair{Cert: ca[keyCACert], Key: ca[keyCAKey]}
	hosts := []string{p.Host, dn.Name}
	srv, err := ensureSecret(ctx, c.kube, dn, dn.Name+"-tls", func(d map[string][]byte) (bool, error) {
		if pki.Valid(pki.Pair{Cert: d[keyTLSCert], Key: d[keyTLSKey]}, caPair.Cert, hosts, now) {
			return false, nil
		}
		pair, err := pki.IssueServer(caPair, dn.Name, hosts, now)
		if err != nil {
			return false, fmt.Errorf("cannot issue the node's certificate: %w", err)
		}
		d[keyTLSCert], d[keyTLSKey], d[keyCACert] = pair.Cert, pair.Key, caPair.Cert
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &node.TLS{CA: caPair.Cert, Cert: srv[keyTLSCert], Key: srv[keyTLSKey]}, nil
}
