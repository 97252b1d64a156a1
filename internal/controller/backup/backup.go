// Package backup reconciles Backup managed resources: one on-demand backup
// of a cluster, or a schedule of them, taken by the engine's tool on the
// cluster's primary over SSH (pgBackRest, mongodump, SQL Server's BACKUP;
// each engine's node role implements node.Backuper).
//
// An on-demand Backup is one backup set, tied to the resource by an
// annotation carrying the resource's UID; it is started once and its
// outcome read back from the repository. A scheduled Backup starts a
// full backup at once (so a new cluster is restorable from its first
// minutes) and then one per cron tick, never two at a time.
package backup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/meta"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/controller/databasenode"
	"github.com/quorumdb/quorum/internal/controller/mrsetup"
	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/sshexec"
)

// Setup adds the Backup controller.
func Setup(mgr ctrl.Manager, o controller.Options, roles map[string]node.Factory) error {
	return mrsetup.Setup(mgr, o, dbv1alpha1.BackupGroupVersionKind, &dbv1alpha1.Backup{}, &dbv1alpha1.BackupList{}, &connector{kube: mgr.GetClient(), dial: dialNode, roles: roles})
}

// dialer opens a session on a node's host.
type dialer func(ctx context.Context, kube client.Client, dn *dbv1alpha1.DatabaseNode) (host.Host, func() error, error)

func dialNode(ctx context.Context, kube client.Client, dn *dbv1alpha1.DatabaseNode) (host.Host, func() error, error) {
	p := dn.Spec.ForProvider
	s := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: dn.Namespace, Name: p.SSH.PrivateKeySecretRef.Name}, s); err != nil {
		return nil, nil, fmt.Errorf("cannot read the SSH key of node %s: %w", dn.Name, err)
	}
	c, err := sshexec.Dial(ctx, sshexec.Target{Host: p.Host, Port: int(p.SSH.Port), User: p.SSH.User, PrivateKey: s.Data[p.SSH.PrivateKeySecretRef.Key], HostKey: p.SSH.HostKey})
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}

type connector struct {
	kube  client.Client
	dial  dialer
	roles map[string]node.Factory
}

// Connect finds the cluster's primary among the referenced nodes and opens
// a session on its host.
func (c *connector) Connect(ctx context.Context, b *dbv1alpha1.Backup) (managed.TypedExternalClient[*dbv1alpha1.Backup], error) {
	p := b.Spec.ForProvider
	var primary *dbv1alpha1.DatabaseNode
	for _, ref := range p.NodeRefs {
		dn := &dbv1alpha1.DatabaseNode{}
		if err := c.kube.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: ref.Name}, dn); err != nil {
			continue
		}
		if dn.Status.AtProvider.Role == "primary" && dn.GetCondition(xpv2.TypeReady).Status == corev1.ConditionTrue {
			primary = dn
		}
	}
	if primary == nil {
		if meta.WasDeleted(b) {
			// Backups are kept when their resource goes: nothing to do
			// on a cluster that is gone.
			return mrsetup.Gone[*dbv1alpha1.Backup]{}, nil
		}
		return nil, errors.New("no Ready primary among spec.forProvider.nodeRefs yet")
	}
	if primary.Spec.ForProvider.Backup == nil {
		return nil, fmt.Errorf("node %s has no backup repository (spec.forProvider.backup)", primary.Name)
	}
	role, err := databasenode.RoleFor(ctx, c.kube, primary, c.roles)
	if err != nil {
		return nil, err
	}
	backuper, ok := role.(node.Backuper)
	if !ok {
		return nil, fmt.Errorf("spec.forProvider.engine %s: this provider takes no backups of %s clusters", p.Engine, p.Engine)
	}
	h, closeFn, err := c.dial(ctx, c.kube, primary)
	if err != nil {
		return nil, err
	}
	logs := databasenode.NodeDir(primary.Namespace, primary.Spec.ForProvider.Cluster.Name, primary.Name) + "/log on " + primary.Name
	return &external{host: h, close: closeFn, backuper: backuper, logs: logs, now: time.Now}, nil
}

type external struct {
	host     host.Host
	close    func() error
	backuper node.Backuper
	// logs says where the backup tool's logs are.
	logs string
	now  func() time.Time
	info node.RepoInfo
}

// id is what the backup sets of a resource are annotated with.
func id(b *dbv1alpha1.Backup) string { return string(b.UID) }

func setStatus(b *dbv1alpha1.Backup, s node.BackupSet) {
	ap := &b.Status.AtProvider
	started, finished := metav1.NewTime(s.Started), metav1.NewTime(s.Finished)
	ap.Label, ap.Type, ap.Started, ap.Finished, ap.SizeBytes = s.Label, s.Type, &started, &finished, s.SizeBytes
	ap.WALStart, ap.WALStop, ap.LSNStart, ap.LSNStop = s.WALStart, s.WALStop, s.LSNStart, s.LSNStop
}

// latest is the newest set of this resource.
func (e *external) latest(b *dbv1alpha1.Backup) (node.BackupSet, bool) {
	for i := len(e.info.Sets) - 1; i >= 0; i-- {
		if s := e.info.Sets[i]; s.Annotation == id(b) || strings.HasPrefix(s.Annotation, id(b)+"/") {
			return s, true
		}
	}
	return node.BackupSet{}, false
}

func (e *external) Observe(ctx context.Context, b *dbv1alpha1.Backup) (managed.ExternalObservation, error) {
	if meta.WasDeleted(b) {
		// The sets stay in the repository; the resource can go.
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	info, err := e.backuper.Backups(ctx, e.host)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	e.info = info
	set, found := e.latest(b)
	if found {
		setStatus(b, set)
	}
	switch {
	case found && set.Error:
		b.SetConditions(xpv2.Unavailable().WithMessage(fmt.Sprintf("backup set %s finished with errors; see %s", set.Label, e.logs)))
	case found:
		b.SetConditions(xpv2.Available())
	case info.Running:
		b.SetConditions(xpv2.Creating().WithMessage("backup running"))
	}
	if b.Spec.ForProvider.Schedule == "" {
		// One set: it exists once started (running, or in the repository).
		return managed.ExternalObservation{ResourceExists: found || info.Running, ResourceUpToDate: true}, nil
	}
	// A schedule's state is read back from the repository, not only from
	// status (status written while creating does not survive the
	// reconciler's annotation update): its sets are annotated with the
	// schedule tick that started them.
	if found {
		if _, ts, ok := strings.Cut(set.Annotation, "/"); ok {
			if sec, err := strconv.ParseInt(ts, 10, 64); err == nil {
				t := metav1.NewTime(time.Unix(sec, 0).UTC())
				if b.Status.AtProvider.LastScheduled == nil || b.Status.AtProvider.LastScheduled.Before(&t) {
					b.Status.AtProvider.LastScheduled = &t
				}
			}
		}
	}
	if !found && !info.Running {
		return managed.ExternalObservation{ResourceExists: false}, nil
	}
	if info.Running || b.Status.AtProvider.LastScheduled == nil {
		return managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: true}, nil
	}
	due, err := e.due(b)
	if err != nil {
		return managed.ExternalObservation{}, err
	}
	return managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: !due}, nil
}

// due reports whether the schedule has ticked since the last backup it
// started.
func (e *external) due(b *dbv1alpha1.Backup) (bool, error) {
	sched, err := cron.ParseStandard(b.Spec.ForProvider.Schedule)
	if err != nil {
		return false, fmt.Errorf("spec.forProvider.schedule %q is not a cron expression (minute hour day-of-month month day-of-week): %w", b.Spec.ForProvider.Schedule, err)
	}
	return !sched.Next(b.Status.AtProvider.LastScheduled.Time).After(e.now()), nil
}

// start starts a backup.
func (e *external) start(ctx context.Context, b *dbv1alpha1.Backup, typ, annotation string) error {
	if err := e.backuper.StartBackup(ctx, e.host, typ, annotation); err != nil {
		return err
	}
	b.SetConditions(xpv2.Creating().WithMessage(typ + " backup started"))
	return nil
}

func (e *external) Create(ctx context.Context, b *dbv1alpha1.Backup) (managed.ExternalCreation, error) {
	now := metav1.NewTime(e.now())
	p := b.Spec.ForProvider
	if p.Schedule != "" {
		if _, err := cron.ParseStandard(p.Schedule); err != nil {
			return managed.ExternalCreation{}, fmt.Errorf("spec.forProvider.schedule %q is not a cron expression (minute hour day-of-month month day-of-week): %w", p.Schedule, err)
		}
		// A schedule begins with a full backup, so the cluster is
		// restorable from the start.
		if err := e.start(ctx, b, "full", fmt.Sprintf("%s/%d", id(b), now.Unix())); err != nil {
			return managed.ExternalCreation{}, err
		}
		b.Status.AtProvider.LastScheduled = &now
		return managed.ExternalCreation{}, nil
	}
	if err := e.start(ctx, b, p.Type, id(b)); err != nil {
		return managed.ExternalCreation{}, err
	}
	b.Status.AtProvider.Started = &now
	return managed.ExternalCreation{}, nil
}

// Update starts the backup a schedule is due for: its type, or full when
// the repository has none of this schedule's sets to build on.
func (e *external) Update(ctx context.Context, b *dbv1alpha1.Backup) (managed.ExternalUpdate, error) {
	if b.Spec.ForProvider.Schedule == "" || e.info.Running {
		return managed.ExternalUpdate{}, nil
	}
	now := metav1.NewTime(e.now())
	typ := b.Spec.ForProvider.Type
	if _, ok := e.latest(b); !ok || typ == "" {
		typ = "full"
	}
	if err := e.start(ctx, b, typ, fmt.Sprintf("%s/%d", id(b), now.Unix())); err != nil {
		return managed.ExternalUpdate{}, err
	}
	b.Status.AtProvider.LastScheduled = &now
	return managed.ExternalUpdate{}, nil
}

// Delete keeps the backup sets: they outlive the resource (and the
// database) until the repository's retention expires them.
func (e *external) Delete(_ context.Context, b *dbv1alpha1.Backup) (managed.ExternalDelete, error) {
	b.SetConditions(xpv2.Deleting())
	return managed.ExternalDelete{}, nil
}

func (e *external) Disconnect(context.Context) error {
	if e.close != nil {
		return e.close()
	}
	return nil
}
