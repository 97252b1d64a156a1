// Package databasenode reconciles DatabaseNode managed resources: an engine
// installed, configured and clustered on a host over SSH. PostgreSQL (with
// Patroni) is built; MongoDB and SQL Server are refused with a clear
// condition until their engine packages exist.
package databasenode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
	"github.com/quorumdb/quorum/internal/engine/postgresql"
	"github.com/quorumdb/quorum/internal/sshexec"
)

// Keys of the admin password Secret.
const (
	keyReplicationPassword = "replicationPassword"
	adminUser              = "quorum_admin"
)

// BaseDir is where nodes keep their files on their hosts; the provider sets
// it from its --node-base-dir flag.
var BaseDir = "/var/lib/quorum"

// Setup adds the DatabaseNode controller.
func Setup(mgr ctrl.Manager, o controller.Options) error {
	return mrsetup.Setup(mgr, o, dbv1alpha1.DatabaseNodeGroupVersionKind, &dbv1alpha1.DatabaseNode{}, &dbv1alpha1.DatabaseNodeList{}, &connector{kube: mgr.GetClient()})
}

type connector struct {
	kube client.Client
}

// Connect reads the node's SSH key and its cluster's passwords (generating
// them on first use) and opens an SSH connection with the host key pinned.
func (c *connector) Connect(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.TypedExternalClient[*dbv1alpha1.DatabaseNode], error) {
	ext, err := c.connect(ctx, dn)
	if err != nil && meta.WasDeleted(dn) && !errors.Is(err, sshexec.ErrHostKeyMismatch) {
		// Being deleted and its host, key or Secrets are gone (its VM and
		// namespace going away alongside): there is nothing left to stop.
		return mrsetup.Gone[*dbv1alpha1.DatabaseNode]{}, nil
	}
	return ext, err
}

func (c *connector) connect(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.TypedExternalClient[*dbv1alpha1.DatabaseNode], error) {
	p := dn.Spec.ForProvider
	if p.Engine != dbv1alpha1.PostgreSQL {
		return nil, fmt.Errorf("spec.forProvider.engine %s is not supported by this provider version yet: only postgresql nodes can be installed", p.Engine)
	}
	key, err := secretKey(ctx, c.kube, dn.Namespace, p.SSH.PrivateKeySecretRef)
	if err != nil {
		return nil, fmt.Errorf("cannot read the SSH key: %w", err)
	}
	admin, repl, err := ensurePasswords(ctx, c.kube, dn.Namespace, p.AdminPasswordSecretRef)
	if err != nil {
		return nil, err
	}
	if p.SSH.HostKey == "" {
		return nil, errors.New("spec.forProvider.ssh.hostKey is empty: waiting for the VM to report its SSH host key")
	}
	ssh, err := sshexec.Dial(ctx, sshexec.Target{Host: p.Host, Port: int(p.SSH.Port), User: p.SSH.User, PrivateKey: key, HostKey: p.SSH.HostKey}, admin, repl)
	if err != nil {
		return nil, err
	}
	return &external{ssh: ssh, node: node(dn, admin, repl), admin: admin}, nil
}

func node(dn *dbv1alpha1.DatabaseNode, admin, repl string) postgresql.Node {
	p := dn.Spec.ForProvider
	self := ""
	members := make([]postgresql.Member, len(p.Cluster.Members))
	for i, m := range p.Cluster.Members {
		members[i] = postgresql.Member{Name: m.Name, Address: m.Address}
		if m.Address == p.Host {
			self = m.Name
		}
	}
	if self == "" {
		self = dn.Name
	}
	major, _, _ := strings.Cut(p.Version, ".")
	port := int(p.Port)
	if port == 0 {
		port = 5432
	}
	return postgresql.Node{
		Cluster: p.Cluster.Name, Name: self, Address: p.Host, Members: members, Port: port,
		Replication: p.Cluster.Replication, BinDir: "/usr/lib/postgresql/" + major + "/bin",
		BaseDir: path.Join(BaseDir, dn.Namespace, p.Cluster.Name, self), AdminUser: adminUser,
		AdminPassword: admin, ReplicationPassword: repl, Parameters: p.Parameters, MemoryMiB: p.MemoryMiB,
	}
}

func secretKey(ctx context.Context, kube client.Client, ns string, sel dbv1alpha1.SecretKeySelector) ([]byte, error) {
	s := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: sel.Name}, s); err != nil {
		return nil, err
	}
	v, ok := s.Data[sel.Key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("secret %s has no key %s", sel.Name, sel.Key)
	}
	return v, nil
}

func password() (string, error) { return accounts.Password(32) }

// ensurePasswords returns the cluster's admin and replication passwords,
// creating the Secret on first use. Every node of the cluster names the same
// Secret; the first to create it wins and the others read it.
func ensurePasswords(ctx context.Context, kube client.Client, ns string, sel dbv1alpha1.SecretKeySelector) (string, string, error) {
	for range 3 {
		s := &corev1.Secret{}
		err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: sel.Name}, s)
		if kerrors.IsNotFound(err) {
			a, err1 := password()
			r, err2 := password()
			if err := errors.Join(err1, err2); err != nil {
				return "", "", err
			}
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sel.Name}, Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{sel.Key: []byte(a), keyReplicationPassword: []byte(r)}}
			if err := kube.Create(ctx, s); err != nil && !kerrors.IsAlreadyExists(err) {
				return "", "", fmt.Errorf("cannot create the admin password Secret %s: %w", sel.Name, err)
			}
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("cannot read the admin password Secret %s: %w", sel.Name, err)
		}
		if len(s.Data[sel.Key]) > 0 && len(s.Data[keyReplicationPassword]) > 0 {
			return string(s.Data[sel.Key]), string(s.Data[keyReplicationPassword]), nil
		}
		// A Secret given by the user without a replication password: add one.
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for _, k := range []string{sel.Key, keyReplicationPassword} {
			if len(s.Data[k]) == 0 {
				pw, err := password()
				if err != nil {
					return "", "", err
				}
				s.Data[k] = []byte(pw)
			}
		}
		if err := kube.Update(ctx, s); err != nil && !kerrors.IsConflict(err) {
			return "", "", fmt.Errorf("cannot complete the admin password Secret %s: %w", sel.Name, err)
		}
	}
	return "", "", fmt.Errorf("cannot settle the admin password Secret %s", sel.Name)
}

type external struct {
	ssh   *sshexec.Client
	node  postgresql.Node
	admin string
}

func (e *external) Observe(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalObservation, error) {
	drift, err := postgresql.Drifted(ctx, e.ssh, e.node)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	ap := &dn.Status.AtProvider
	if drift != "" && ap.AppliedConfigHash == "" {
		// Never installed by us: create.
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	upToDate := drift == ""
	st, members, err := postgresql.Observe(ctx, e.node.Address)
	if err != nil {
		dn.SetConditions(xpv2.Unavailable().WithMessage(cmp.Or(drift, "Patroni does not answer")))
		ap.State = "unreachable"
	} else {
		ap.Role, ap.State, ap.Timeline, ap.Version = st.Role, st.State, st.Timeline, dn.Spec.ForProvider.Version
		ap.Members = ap.Members[:0]
		for _, m := range members {
			ms := dbv1alpha1.MemberStatus{Name: m.Name, Role: m.Role, State: m.State, Timeline: m.Timeline}
			if lag, ok := m.Lag.(float64); ok {
				ms.LagBytes = int64(lag)
			}
			if m.Name == e.node.Name {
				ap.LagBytes = ms.LagBytes
			}
			ap.Members = append(ap.Members, ms)
		}
		switch {
		case drift != "":
			dn.SetConditions(xpv2.Unavailable().WithMessage(drift + "; repairing"))
		case st.State == "running" || st.State == "streaming":
			dn.SetConditions(xpv2.Available())
		default:
			dn.SetConditions(xpv2.Creating().WithMessage("PostgreSQL is " + st.State))
		}
	}
	if to := dn.Spec.ForProvider.SwitchoverTo; to != "" && ap.Role == "primary" && to != e.node.Name {
		upToDate = false
	}
	hosts := make([]string, len(e.node.Members))
	for i, m := range e.node.Members {
		hosts[i] = m.Address
	}
	return managed.ExternalObservation{
		ResourceExists:   true,
		ResourceUpToDate: upToDate,
		ConnectionDetails: managed.ConnectionDetails{
			"engine":   []byte("postgresql"),
			"hosts":    []byte(strings.Join(hosts, ",")),
			"port":     []byte(fmt.Sprint(e.node.Port)),
			"username": []byte(adminUser),
			"password": []byte(e.admin),
		},
	}, nil
}

func (e *external) apply(ctx context.Context, dn *dbv1alpha1.DatabaseNode) error {
	if err := postgresql.Apply(ctx, e.ssh, e.node); err != nil {
		return err
	}
	dn.Status.AtProvider.AppliedConfigHash = e.node.ConfigSum()[:16]
	return nil
}

func (e *external) Create(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalCreation, error) {
	dn.SetConditions(xpv2.Creating())
	return managed.ExternalCreation{}, e.apply(ctx, dn)
}

func (e *external) Update(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalUpdate, error) {
	if err := e.apply(ctx, dn); err != nil {
		return managed.ExternalUpdate{}, err
	}
	to := dn.Spec.ForProvider.SwitchoverTo
	if to != "" && dn.Status.AtProvider.Role == "primary" && to != e.node.Name {
		now := metav1.NewTime(time.Now())
		err := postgresql.Switchover(ctx, e.node.Address, e.node.Name, to)
		res := "succeeded"
		if err != nil {
			res = "failed: " + err.Error()
		}
		dn.Status.AtProvider.LastSwitchover = &dbv1alpha1.SwitchoverStatus{Target: to, Result: res, Time: &now}
		if err != nil {
			return managed.ExternalUpdate{}, err
		}
	}
	return managed.ExternalUpdate{}, nil
}

func (e *external) Delete(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalDelete, error) {
	dn.SetConditions(xpv2.Deleting())
	return managed.ExternalDelete{}, postgresql.Stop(ctx, e.ssh, e.node)
}

func (e *external) Disconnect(context.Context) error { return e.ssh.Close() }
