package postgresql

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// AdminUser is the superuser the provider creates and administers with.
const AdminUser = "quorum_admin"

// NewRole is PostgreSQL's node.Factory: Patroni with a per-cluster etcd.
func NewRole(s node.Spec) (node.Role, error) {
	n, err := NodeFor(s)
	if err != nil {
		return nil, err
	}
	return role{n}, nil
}

// NodeFor is the PostgreSQL node a spec describes.
func NodeFor(s node.Spec) (Node, error) {
	major, _, _ := strings.Cut(s.Version, ".")
	if major == "" {
		return Node{}, fmt.Errorf("spec.forProvider.version %q: give a PostgreSQL major version such as 15", s.Version)
	}
	port := s.Port
	if port == 0 {
		port = 5432
	}
	members := make([]Member, len(s.Members))
	for i, m := range s.Members {
		members[i] = Member(m)
	}
	return Node{
		Cluster: s.Cluster, Name: s.Name, Address: s.Address, Members: members, Port: port,
		Replication: s.Replication, BinDir: "/usr/lib/postgresql/" + major + "/bin", BaseDir: s.BaseDir, DataDisk: s.DataDisk,
		AdminUser: AdminUser, AdminPassword: s.AdminPassword, ReplicationPassword: s.ReplicationPassword,
		Parameters: s.Parameters, MemoryMiB: int32(s.MemoryMiB), TLS: s.TLS, Backup: s.Backup, Restore: s.Restore, Bootstrap: s.Bootstrap,
	}, nil
}

type role struct{ n Node }

func (r role) Apply(ctx context.Context, h host.Host) (map[string][]byte, error) {
	if err := Apply(ctx, h, r.n); err != nil {
		return nil, err
	}
	if err := applyCluster(ctx, r.n); err != nil {
		return nil, err
	}
	// A restart-only parameter PostgreSQL still runs without (Patroni's
	// own restart above covers the changes it noticed).
	if d := restartDrift(ctx, h, r.n); d != "" {
		// Patroni restarts PostgreSQL with the configuration it has read: give
		// it a moment to take in what Apply just wrote (it then flags the
		// pending restart), or the restart would bring the old value back.
		waitPendingRestart(ctx, r.n, 3*time.Second)
		if err := Restart(ctx, r.n.Address); err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
	}
	// The stanza is created from the primary once it runs; replicas and a
	// primary still starting leave it to a later pass.
	if st, _, err := Observe(ctx, r.n.Address); err == nil && st.Role == "primary" && st.State == "running" {
		return nil, EnsureStanza(ctx, h, r.n)
	}
	return nil, nil
}

// Drifted checks the host (files, services), then the cluster-wide
// parameters and pending restarts through Patroni, then the running values
// of restart-only parameters.
func (r role) Drifted(ctx context.Context, h host.Host) (string, error) {
	d, err := Drifted(ctx, h, r.n)
	if d != "" || err != nil {
		return d, err
	}
	if d := clusterDrift(ctx, r.n); d != "" {
		return d, nil
	}
	return restartDrift(ctx, h, r.n), nil
}
func (r role) Stop(ctx context.Context, h host.Host) error { return Stop(ctx, h, r.n) }
func (r role) ConfigSum() string                           { return r.n.ConfigSum() }
func (r role) AdminUser() string                           { return AdminUser }

func (r role) Switchover(ctx context.Context, to string) error {
	return Switchover(ctx, r.n.Address, r.n.Name, to)
}

func (r role) Observe(ctx context.Context) (node.Status, error) {
	st, members, err := Observe(ctx, r.n.Address)
	if err != nil {
		return node.Status{}, err
	}
	out := node.Status{Role: st.Role, State: st.State, Timeline: st.Timeline, Healthy: st.State == "running" || st.State == "streaming"}
	for _, m := range members {
		ms := node.MemberStatus{Name: m.Name, Role: m.Role, State: m.State, Timeline: m.Timeline}
		if lag, ok := m.Lag.(float64); ok {
			ms.LagBytes = int64(lag)
		}
		if m.Name == r.n.Name {
			out.LagBytes = ms.LagBytes
		}
		out.Members = append(out.Members, ms)
	}
	return out, nil
}

// Restart restarts PostgreSQL through Patroni (which keeps the node's role)
// and waits until it runs again.
func (r role) Restart(ctx context.Context, _ host.Host) error {
	return Restart(ctx, r.n.Address)
}

// StartBackup creates the stanza when the repository has none yet, then
// starts the backup.
func (r role) StartBackup(ctx context.Context, h host.Host, typ, id string) error {
	if info, err := Backups(ctx, h, r.n); err != nil || !strings.HasPrefix(info.Status, "ok") {
		if err := EnsureStanza(ctx, h, r.n); err != nil {
			return err
		}
	}
	return StartBackup(ctx, h, r.n, typ, id)
}

func (r role) Backups(ctx context.Context, h host.Host) (node.RepoInfo, error) {
	return Backups(ctx, h, r.n)
}

// FinalBackup takes the primary's last full backup, in the background.
func (r role) FinalBackup(ctx context.Context, h host.Host, id string) (bool, error) {
	return node.FinalBackup(ctx, r, h, id)
}
