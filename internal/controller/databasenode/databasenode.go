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
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/objectstore/scopedkey"
	"github.com/quorumdb/quorum/internal/protection"
	"github.com/quorumdb/quorum/internal/sshexec"
)

// Keys of the admin password Secret.
const (
	keyReplicationPassword = "replicationPassword"
)

// BaseDir is where nodes keep their files on their hosts; the provider sets
// it from its --node-base-dir flag.
var BaseDir = "/var/lib/quorum"

// Setup adds the DatabaseNode controller.
func Setup(mgr ctrl.Manager, o controller.Options, roles map[string]node.Factory) error {
	// Replicas waiting for their primary to back up and stop go as soon
	// as it has.
	released := mrsetup.WhenDeleted(&dbv1alpha1.DatabaseNode{}, func(ctx context.Context, o client.Object) []reconcile.Request {
		gone, ok := o.(*dbv1alpha1.DatabaseNode)
		if !ok {
			return nil
		}
		l := &dbv1alpha1.DatabaseNodeList{}
		if err := mgr.GetClient().List(ctx, l, client.InNamespace(gone.Namespace)); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, dn := range l.Items {
			if dn.DeletionTimestamp != nil && dn.Name != gone.Name && dn.Spec.ForProvider.Cluster.Name == gone.Spec.ForProvider.Cluster.Name {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: dn.Namespace, Name: dn.Name}})
			}
		}
		return out
	}, 3*time.Second)
	return mrsetup.SetupWatching(mgr, o, dbv1alpha1.DatabaseNodeGroupVersionKind, &dbv1alpha1.DatabaseNode{}, &dbv1alpha1.DatabaseNodeList{}, &connector{kube: mgr.GetClient(), api: mgr.GetAPIReader(), roles: roles},
		[]mrsetup.Watch{released})
}

type connector struct {
	kube client.Client
	// api reads what the cache does not hold (the owning XDatabase).
	api   client.Reader
	roles map[string]node.Factory
}

// Connect reads the node's SSH key and its cluster's passwords (generating
// them on first use) and opens an SSH connection with the host key pinned.
func (c *connector) Connect(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.TypedExternalClient[*dbv1alpha1.DatabaseNode], error) {
	ext, err := c.connect(ctx, dn)
	if err == nil || !meta.WasDeleted(dn) || errors.Is(err, sshexec.ErrHostKeyMismatch) {
		return ext, err
	}
	// Being deleted and unreachable: let go only on an authoritative
	// answer that the host is gone, never on a failure to connect, which
	// would skip the final backup and the stop.
	gone, why, gerr := hostGone(ctx, c.kube, dn, err)
	if gerr != nil {
		return nil, fmt.Errorf("%w (and cannot tell whether its host is gone: %w)", err, gerr)
	}
	if gone {
		return mrsetup.Gone[*dbv1alpha1.DatabaseNode]{}, nil
	}
	return nil, fmt.Errorf("cannot reach the node to take the final backup and stop its services: %w; deletion waits, %s. If the host is lost for good, set spec.managementPolicies: [Observe] on DatabaseNode %s to release it without a final backup", err, why, dn.Name)
}

// hostGone reports whether a node being deleted has lost its host for
// good, on an authoritative answer only:
//   - no VirtualMachine in the namespace holds its address: a
//     VirtualMachine's finalizer goes only once its platform says the VM is
//     gone (a node on a host Quorum does not manage has no such authority
//     and is released too, as before);
//   - its namespace is being deleted and a Secret it needs is gone with it:
//     nothing can ever reach the host again.
//
// A node that never installed anything has nothing to lose and goes too.
//
// Otherwise it says why it waits.
func hostGone(ctx context.Context, kube client.Client, dn *dbv1alpha1.DatabaseNode, cause error) (bool, string, error) {
	if meta.GetExternalCreateSucceeded(dn).IsZero() && meta.GetExternalCreatePending(dn).IsZero() && dn.Status.AtProvider.AppliedConfigHash == "" {
		// Never installed (a database deleted while its VMs were still
		// coming up, before the node could log in): nothing of its own
		// runs there to stop or back up, and its VM waits for it.
		return true, "", nil
	}
	host := dn.Spec.ForProvider.Host
	l := &computev1alpha1.VirtualMachineList{}
	if err := kube.List(ctx, l, client.InNamespace(dn.Namespace)); err != nil {
		return false, "", fmt.Errorf("cannot list VirtualMachines: %w", err)
	}
	vm := ""
	for _, v := range l.Items {
		if v.Status.AtProvider.IPAddress == host || v.Spec.ForProvider.Network.IPAddress == host {
			vm = v.Name
		}
	}
	if vm == "" {
		return true, "", nil
	}
	if kerrors.IsNotFound(cause) {
		ns := &corev1.Namespace{}
		if err := kube.Get(ctx, client.ObjectKey{Name: dn.Namespace}, ns); err != nil {
			return false, "", fmt.Errorf("cannot read namespace %s: %w", dn.Namespace, err)
		}
		if ns.DeletionTimestamp != nil {
			return true, "", nil
		}
	}
	return false, "VirtualMachine " + vm + " still holds " + host, nil
}

// roleFor builds the node's role with its cluster's secrets (creating
// those still missing), and returns the cluster Secret's UID.
func (c *connector) roleFor(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (node.Role, node.Spec, string, error) {
	p := dn.Spec.ForProvider
	factory, ok := c.roles[string(p.Engine)]
	if !ok {
		return nil, node.Spec{}, "", fmt.Errorf("spec.forProvider.engine %s has no node role in this provider", p.Engine)
	}
	shared, err := ensureSecret(ctx, c.kube, dn, p.AdminPasswordSecretRef.Name, passwords(p.AdminPasswordSecretRef.Key))
	if err != nil {
		return nil, node.Spec{}, "", err
	}
	clusterSecret := &corev1.Secret{}
	if err := c.kube.Get(ctx, client.ObjectKey{Namespace: dn.Namespace, Name: p.AdminPasswordSecretRef.Name}, clusterSecret); err != nil {
		return nil, node.Spec{}, "", fmt.Errorf("cannot read the cluster Secret %s: %w", p.AdminPasswordSecretRef.Name, err)
	}
	spec := nodeSpec(dn, shared)
	if spec.Backup, err = backupRepo(ctx, c.kube, dn); err != nil {
		return nil, node.Spec{}, "", err
	}
	if spec.Restore, err = restoreSource(ctx, c.kube, dn); err != nil {
		return nil, node.Spec{}, "", err
	}
	if p.TLS != nil {
		if spec.TLS, err = c.tls(ctx, dn); err != nil {
			return nil, node.Spec{}, "", err
		}
	}
	role, err := factory(spec)
	if err != nil {
		return nil, node.Spec{}, "", err
	}
	return role, spec, string(clusterSecret.UID), nil
}

// RoleFor is the role of a node, with its cluster's secrets, for
// controllers that act on its cluster without configuring it (backups).
func RoleFor(ctx context.Context, kube client.Client, dn *dbv1alpha1.DatabaseNode, roles map[string]node.Factory) (node.Role, error) {
	// Never the one to create the cluster's passwords: that is the node
	// controller's first pass.
	ref := dn.Spec.ForProvider.AdminPasswordSecretRef
	if err := kube.Get(ctx, client.ObjectKey{Namespace: dn.Namespace, Name: ref.Name}, &corev1.Secret{}); err != nil {
		return nil, fmt.Errorf("cannot read the cluster Secret %s of node %s: %w", ref.Name, dn.Name, err)
	}
	r, _, _, err := (&connector{kube: kube, roles: roles}).roleFor(ctx, dn)
	return r, err
}

func (c *connector) connect(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.TypedExternalClient[*dbv1alpha1.DatabaseNode], error) {
	p := dn.Spec.ForProvider
	key, err := secretKey(ctx, c.kube, dn.Namespace, p.SSH.PrivateKeySecretRef)
	if err != nil {
		return nil, fmt.Errorf("cannot read the SSH key: %w", err)
	}
	role, spec, clusterID, err := c.roleFor(ctx, dn)
	if err != nil {
		return nil, err
	}
	if p.SSH.HostKey == "" {
		return nil, errors.New("spec.forProvider.ssh.hostKey is empty: waiting for the VM to report its SSH host key")
	}
	ssh, err := sshexec.Dial(ctx, sshexec.Target{Host: p.Host, Port: int(p.SSH.Port), User: p.SSH.User, PrivateKey: key, HostKey: p.SSH.HostKey}, spec.AdminPassword, spec.ReplicationPassword)
	if err != nil {
		return nil, err
	}
	target := sshexec.Target{Host: p.Host, Port: int(p.SSH.Port), User: p.SSH.User, PrivateKey: key, HostKey: p.SSH.HostKey, Timeout: 5 * time.Second}
	redial := func(ctx context.Context) (*sshexec.Client, error) { return sshexec.Dial(ctx, target) }
	return &external{kube: c.kube, api: c.api, ssh: ssh, role: role, spec: spec, secret: p.AdminPasswordSecretRef, namespace: dn.Namespace, redial: redial, clusterID: clusterID}, nil
}

// NodeDir is where a node keeps its files on its host.
func NodeDir(namespace, cluster, member string) string {
	return path.Join(BaseDir, namespace, cluster, member)
}

// backupRepo is the node's backup repository with its credentials.
func backupRepo(ctx context.Context, kube client.Client, dn *dbv1alpha1.DatabaseNode) (*node.BackupRepo, error) {
	b := dn.Spec.ForProvider.Backup
	if b == nil {
		return nil, nil
	}
	return repository(ctx, kube, dn.Namespace, dn.Spec.ForProvider.Cluster.Name, b, "spec.forProvider.backup")
}

// restoreSource is the backup the node's cluster is formed from, if any.
func restoreSource(ctx context.Context, kube client.Client, dn *dbv1alpha1.DatabaseNode) (*node.Restore, error) {
	r := dn.Spec.ForProvider.RestoreFrom
	if r == nil {
		return nil, nil
	}
	repo, err := repository(ctx, kube, dn.Namespace, r.Cluster, &r.Repository, "spec.forProvider.restoreFrom.repository")
	if err != nil {
		return nil, err
	}
	out := &node.Restore{Cluster: r.Cluster, Repo: *repo, Backup: r.Backup}
	if r.PointInTime != nil {
		out.Target = r.PointInTime.Time
	}
	return out, nil
}

// repository resolves a repository's credentials. A relative filesystem
// path is taken under the provider's node base directory.
func repository(ctx context.Context, kube client.Client, namespace, cluster string, b *dbv1alpha1.BackupRepository, field string) (*node.BackupRepo, error) {
	r := &node.BackupRepo{Type: b.Type, Path: b.Path, Bucket: b.Bucket, Endpoint: b.Endpoint, Region: b.Region, RetentionFull: int(b.RetentionFull), RetentionDays: int(b.RetentionDays), SkipFinal: b.SkipFinalBackup}
	if (r.Type == "filesystem" || r.Type == "") && !path.IsAbs(r.Path) {
		r.Path = path.Join(BaseDir, r.Path)
	}
	if ref := b.CredentialsSecretRef; ref != nil {
		ns, err := credentialsNamespace(namespace, cluster, b, field)
		if err != nil {
			return nil, err
		}
		s := &corev1.Secret{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, s); err != nil {
			return nil, fmt.Errorf("cannot read the credentials Secret %s named by %s.credentialsSecretRef: %w", ref.Name, field, err)
		}
		r.Credentials = map[string]string{}
		for k, v := range s.Data {
			r.Credentials[k] = string(v)
		}
		scopeCredentials(r)
	}
	return r, nil
}

// scopeCredentials replaces a store's root secret (scopedkey.SecretKey) by
// the repository's own key, which reaches its prefix only: the node never
// gets the root.
func scopeCredentials(r *node.BackupRepo) {
	root, ok := r.Credentials[scopedkey.SecretKey]
	if !ok || r.Type != "s3" {
		return
	}
	delete(r.Credentials, scopedkey.SecretKey)
	r.Credentials["accessKeyID"], r.Credentials["secretAccessKey"] = scopedkey.Derive(root, r.Bucket, r.Path)
}

// PlatformNamespace is the provider's own namespace: the only one besides
// a resource's own whose Secrets a repository may name.
var PlatformNamespace = "crossplane-system"

// credentialsNamespace is where a repository's credentials Secret is read.
// A namespaced resource reaches Secrets in its own namespace, and the
// platform's store credentials in the provider's namespace only for a
// repository under its own namespace's prefix: no tenant can point them at
// another tenant's backups.
func credentialsNamespace(namespace, cluster string, b *dbv1alpha1.BackupRepository, field string) (string, error) {
	ref := b.CredentialsSecretRef
	switch ref.Namespace {
	case "", namespace:
		return namespace, nil
	case PlatformNamespace:
		clean := path.Clean("/" + b.Path)
		seg := strings.Split(clean, "/")
		// <prefix>/<namespace>/<cluster>, or one incarnation below it.
		ok := false
		for _, n := range []int{2, 3} {
			if i := len(seg) - n; i >= 1 && seg[i] == namespace && seg[i+1] == cluster {
				ok = true
			}
		}
		if b.Type == "filesystem" || clean != "/"+strings.TrimPrefix(b.Path, "/") || !ok {
			return "", fmt.Errorf("%s.path %q must end in /%s/%s (or one segment below it) to use the platform's credentials in %s: a repository with them reaches this namespace's backups only", field, b.Path, namespace, cluster, PlatformNamespace)
		}
		return PlatformNamespace, nil
	default:
		return "", fmt.Errorf("%s.credentialsSecretRef.namespace %q is not allowed: name a Secret in this namespace (%s) or the platform's credentials in %s", field, ref.Namespace, namespace, PlatformNamespace)
	}
}

// sharedPrefix marks the keys of the cluster Secret that members publish
// for each other (node.Role.Apply's outputs).
const sharedPrefix = "shared."

func nodeSpec(dn *dbv1alpha1.DatabaseNode, secret map[string][]byte) node.Spec {
	p := dn.Spec.ForProvider
	self := ""
	members := make([]node.Member, len(p.Cluster.Members))
	for i, m := range p.Cluster.Members {
		members[i] = node.Member{Name: m.Name, Address: m.Address}
		if m.Address == p.Host {
			self = m.Name
		}
	}
	if self == "" {
		self = dn.Name
	}
	shared := map[string][]byte{}
	for k, v := range secret {
		if name, ok := strings.CutPrefix(k, sharedPrefix); ok {
			shared[name] = v
		}
	}
	dataDisk := ""
	if p.DataDisk != nil {
		dataDisk = p.DataDisk.DevicePath
	}
	return node.Spec{
		DataDisk: dataDisk,
		Cluster:  p.Cluster.Name, Name: self, Address: p.Host, Port: int(p.Port), Members: members,
		Bootstrap: p.Cluster.BootstrapRole == "primary", Replication: p.Cluster.Replication,
		Version: p.Version, CPUs: int(p.CPUs), MemoryMiB: int(p.MemoryMiB), Parameters: p.Parameters,
		BaseDir:       NodeDir(dn.Namespace, p.Cluster.Name, self),
		AdminPassword: string(secret[p.AdminPasswordSecretRef.Key]), ReplicationPassword: string(secret[keyReplicationPassword]),
		Shared: shared,
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

type external struct {
	kube      client.Client
	api       client.Reader
	ssh       *sshexec.Client
	role      node.Role
	spec      node.Spec
	secret    dbv1alpha1.SecretKeySelector
	namespace string
	// redial checks whether the host still answers.
	redial func(ctx context.Context) (*sshexec.Client, error)
	// clusterID identifies this incarnation of the cluster (its shared
	// Secret's UID).
	clusterID string
}

func (e *external) Observe(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalObservation, error) {
	if err := markNamespace(ctx, e.kube, e.api, dn, false); err != nil {
		return managed.ExternalObservation{}, err
	}
	drift, err := e.role.Drifted(ctx, e.ssh)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	ap := &dn.Status.AtProvider
	if drift != "" && ap.AppliedConfigHash == "" {
		// Never installed by us: create.
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	upToDate := drift == ""
	st, err := e.role.Observe(ctx)
	if err != nil {
		dn.SetConditions(xpv2.Unavailable().WithMessage(cmp.Or(drift, err.Error())))
		ap.State = "unreachable"
	} else {
		ap.Role, ap.State, ap.Timeline, ap.LagBytes, ap.Version = st.Role, st.State, st.Timeline, st.LagBytes, dn.Spec.ForProvider.Version
		ap.Members = ap.Members[:0]
		for _, m := range st.Members {
			ap.Members = append(ap.Members, dbv1alpha1.MemberStatus(m))
		}
		switch {
		case drift != "":
			dn.SetConditions(xpv2.Unavailable().WithMessage(drift + "; repairing"))
		case st.Healthy:
			dn.SetConditions(xpv2.Available())
			if ap.LastRestart == nil {
				// The engine's first start counts as the restart asked for
				// so far: only a later change of the request restarts it.
				now := metav1.Now()
				ap.LastRestart = &dbv1alpha1.RestartStatus{Request: dn.Spec.ForProvider.RestartRequest, Result: "started fresh", Time: &now}
			}
		default:
			dn.SetConditions(xpv2.Creating().WithMessage("the engine is " + st.State))
		}
	}
	if to := dn.Spec.ForProvider.SwitchoverTo; to != "" && ap.Role == "primary" && to != e.spec.Name {
		upToDate = false
	}
	if restartPending(dn) {
		upToDate = false
	}
	hosts := make([]string, len(e.spec.Members))
	for i, m := range e.spec.Members {
		hosts[i] = m.Address
	}
	port := e.spec.Port
	if port == 0 {
		port = defaultPorts[string(dn.Spec.ForProvider.Engine)]
	}
	details := managed.ConnectionDetails{
		"engine":   []byte(dn.Spec.ForProvider.Engine),
		"hosts":    []byte(strings.Join(hosts, ",")),
		"port":     []byte(fmt.Sprint(port)),
		"username": []byte(e.role.AdminUser()),
		"password": []byte(e.spec.AdminPassword),
	}
	if e.spec.TLS != nil {
		details["ca.crt"] = e.spec.TLS.CA
	}
	if dn.Spec.ForProvider.Engine == dbv1alpha1.MongoDB {
		details["replicaSet"] = []byte(e.spec.Cluster)
	}
	return managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: upToDate, ConnectionDetails: details}, nil
}

// defaultPorts of the engines, for the admin connection when spec.port is 0.
var defaultPorts = map[string]int{"postgresql": 5432, "mongodb": 27017, "sqlserver": 1433}

func (e *external) apply(ctx context.Context, dn *dbv1alpha1.DatabaseNode) error {
	out, err := e.role.Apply(ctx, e.ssh)
	if len(out) > 0 {
		// Published even when a later step failed: the other members wait
		// for these values.
		if perr := e.publish(ctx, out); perr != nil {
			return errors.Join(err, perr)
		}
	}
	if err != nil {
		return err
	}
	dn.Status.AtProvider.AppliedConfigHash = e.role.ConfigSum()[:16]
	return nil
}

// publish merges a member's outputs into the cluster Secret.
func (e *external) publish(ctx context.Context, out map[string][]byte) error {
	s := &corev1.Secret{}
	if err := e.kube.Get(ctx, client.ObjectKey{Namespace: e.namespace, Name: e.secret.Name}, s); err != nil {
		return fmt.Errorf("cannot read the cluster Secret %s: %w", e.secret.Name, err)
	}
	changed := false
	for k, v := range out {
		if string(s.Data[sharedPrefix+k]) != string(v) {
			s.Data[sharedPrefix+k] = v
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := e.kube.Update(ctx, s); err != nil {
		return fmt.Errorf("cannot publish to the cluster Secret %s: %w", e.secret.Name, err)
	}
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
	if to != "" && dn.Status.AtProvider.Role == "primary" && to != e.spec.Name {
		now := metav1.NewTime(time.Now())
		err := e.role.Switchover(ctx, to)
		res := "succeeded"
		if err != nil {
			res = "failed: " + err.Error()
		}
		dn.Status.AtProvider.LastSwitchover = &dbv1alpha1.SwitchoverStatus{Target: to, Result: res, Time: &now}
		if err != nil {
			return managed.ExternalUpdate{}, err
		}
	}
	if restartPending(dn) {
		r, ok := e.role.(node.Restarter)
		if !ok {
			return managed.ExternalUpdate{}, fmt.Errorf("spec.forProvider.restartRequest: %s nodes cannot be restarted by this provider", dn.Spec.ForProvider.Engine)
		}
		err := r.Restart(ctx, e.ssh)
		now := metav1.NewTime(time.Now())
		res := "succeeded"
		if err != nil {
			// Recorded, and retried: the request stays pending.
			res = "failed: " + err.Error()
		}
		dn.Status.AtProvider.LastRestart = &dbv1alpha1.RestartStatus{Request: dn.Spec.ForProvider.RestartRequest, Result: res, Time: &now}
		if err != nil {
			return managed.ExternalUpdate{}, err
		}
	}
	return managed.ExternalUpdate{}, nil
}

// restartPending is whether the node's restart request has not been
// carried out yet. Until the engine first runs healthy there is nothing to
// restart (its first start counts).
func restartPending(dn *dbv1alpha1.DatabaseNode) bool {
	want := dn.Spec.ForProvider.RestartRequest
	last := dn.Status.AtProvider.LastRestart
	return want != "" && last != nil && (last.Request != want || strings.HasPrefix(last.Result, "failed"))
}

// stopTimeout bounds stopping a node's services on delete. Stopping takes
// a few seconds; a host that stops answering mid-command is usually a VM
// being deleted alongside its node.
const stopTimeout = 45 * time.Second

func (e *external) Delete(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalDelete, error) {
	res, err := e.delete(ctx, dn)
	if err == nil {
		// Stopped for good: this node no longer holds its namespace.
		err = markNamespace(ctx, e.kube, e.api, dn, true)
	}
	return res, err
}

func (e *external) delete(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalDelete, error) {
	if xr, on, err := protection.Protected(ctx, e.api, dn); err != nil {
		return managed.ExternalDelete{}, err
	} else if on {
		dn.SetConditions(xpv2.Deleting().WithMessage("deletion protection is on: the node keeps running"))
		return managed.ExternalDelete{}, protection.Refusal("DatabaseNode", dn.Name, xr)
	}
	dn.SetConditions(xpv2.Deleting())
	// The cluster's data leaves with a final full backup unless the spec
	// opts out; a failed one blocks the deletion rather than lose data. The
	// primary takes it and stops first: replicas wait for it, so that the
	// primary keeps its DCS quorum (and its role) while backing up.
	if fb, ok := e.role.(node.FinalBackuper); ok && e.spec.Backup != nil && !e.spec.Backup.SkipFinal {
		// The role now, from the engine: status may be a failover old.
		role := dn.Status.AtProvider.Role
		if st, err := e.role.Observe(ctx); err == nil {
			role = st.Role
		}
		if role != "primary" {
			if p, err := e.otherPrimary(ctx, dn); err != nil {
				return managed.ExternalDelete{}, err
			} else if p != "" {
				dn.SetConditions(xpv2.Deleting().WithMessage("waiting for primary " + p + " to take the final backup and stop first"))
				return managed.ExternalDelete{}, fmt.Errorf("waiting for primary %s to take the final backup and stop first", p)
			}
			return e.stop(ctx, dn)
		}
		// One final backup per cluster incarnation: a replica promoted
		// while the cluster goes finds it done.
		done, err := fb.FinalBackup(ctx, e.ssh, "final/"+e.clusterID)
		if err != nil {
			return managed.ExternalDelete{}, fmt.Errorf("final backup before deletion failed (to delete without one, set spec.forProvider.backup.skipFinalBackup: true on this DatabaseNode, or skipFinalBackup: true on the XDatabase before deleting it): %w", err)
		}
		if !done {
			dn.SetConditions(xpv2.Deleting().WithMessage("taking a final full backup before stopping"))
			return managed.ExternalDelete{}, errors.New("taking a final full backup before stopping; deletion continues when it is in the repository")
		}
	}
	return e.stop(ctx, dn)
}

// otherPrimary names another node of the same cluster that is primary and
// still exists, or "".
func (e *external) otherPrimary(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (string, error) {
	l := &dbv1alpha1.DatabaseNodeList{}
	if err := e.kube.List(ctx, l, client.InNamespace(dn.Namespace)); err != nil {
		return "", fmt.Errorf("cannot list the cluster's nodes: %w", err)
	}
	for _, o := range l.Items {
		if o.Name != dn.Name && o.Spec.ForProvider.Cluster.Name == dn.Spec.ForProvider.Cluster.Name && o.Status.AtProvider.Role == "primary" {
			return o.Name, nil
		}
	}
	return "", nil
}

// stop stops the node's services.
func (e *external) stop(ctx context.Context, dn *dbv1alpha1.DatabaseNode) (managed.ExternalDelete, error) {
	sctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	err := e.role.Stop(sctx, e.ssh)
	if err == nil {
		return managed.ExternalDelete{}, nil
	}
	// The host stopped answering during the stop: it is released only if
	// it is gone for good (hostGone); a host that still answers, or may
	// answer again, gets the stop retried.
	if e.redial != nil {
		c, derr := e.redial(ctx)
		if c != nil {
			_ = c.Close()
		}
		if derr != nil && !errors.Is(derr, sshexec.ErrHostKeyMismatch) {
			gone, why, gerr := hostGone(ctx, e.kube, dn, derr)
			if gerr != nil {
				return managed.ExternalDelete{}, fmt.Errorf("%w (and cannot tell whether its host is gone: %w)", err, gerr)
			}
			if gone {
				return managed.ExternalDelete{}, nil
			}
			return managed.ExternalDelete{}, fmt.Errorf("cannot stop the node's services: %w; its host stopped answering (%w) and deletion waits, %s", err, derr, why)
		}
	}
	return managed.ExternalDelete{}, err
}

func (e *external) Disconnect(context.Context) error { return e.ssh.Close() }

// markNamespace keeps the namespace's protection mark in step with its
// nodes: set while a node of a protected database is there, removed once
// none is. An admission policy refuses to delete a marked namespace
// (compositions/admission/namespace-protection.yaml): deleting it would
// delete, with the Secrets, what a final backup needs. A node being
// deleted still holds the mark while its XDatabase is protected (it
// refuses to go); gone says dn itself no longer counts (its deletion is
// done).
func markNamespace(ctx context.Context, kube client.Client, api client.Reader, dn *dbv1alpha1.DatabaseNode, gone bool) error {
	ns := &corev1.Namespace{}
	if err := kube.Get(ctx, client.ObjectKey{Name: dn.Namespace}, ns); err != nil {
		if kerrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("cannot read namespace %s: %w", dn.Namespace, err)
	}
	holds := func(n *dbv1alpha1.DatabaseNode) (bool, error) {
		if n.Labels[protection.Label] != "true" {
			return false, nil
		}
		if n.DeletionTimestamp == nil {
			return true, nil
		}
		_, on, err := protection.Protected(ctx, api, n)
		return on, err
	}
	marked := ns.Labels[protection.NamespaceLabel] == "true"
	want := false
	if !gone {
		var err error
		if want, err = holds(dn); err != nil {
			return err
		}
	}
	if !want && marked {
		l := &dbv1alpha1.DatabaseNodeList{}
		if err := kube.List(ctx, l, client.InNamespace(dn.Namespace), client.MatchingLabels{protection.Label: "true"}); err != nil {
			return fmt.Errorf("cannot list the protected nodes of namespace %s: %w", dn.Namespace, err)
		}
		for i := range l.Items {
			if l.Items[i].Name == dn.Name {
				continue
			}
			h, err := holds(&l.Items[i])
			if err != nil {
				return err
			}
			want = want || h
		}
	}
	if want == marked || ns.DeletionTimestamp != nil {
		return nil
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	if want {
		ns.Labels[protection.NamespaceLabel] = "true"
	} else {
		delete(ns.Labels, protection.NamespaceLabel)
	}
	if err := kube.Patch(ctx, ns, patch); err != nil {
		return fmt.Errorf("cannot mark namespace %s as holding protected databases: %w", dn.Namespace, err)
	}
	return nil
}
