package postgresql

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/sshexec"
)

// TestPointInTimeRestore is the restore a platform team relies on, with
// real pgBackRest, Patroni and PostgreSQL: rows are written, a full backup
// taken, more rows written up to a time T recorded on the server, more rows
// after T; a new two-node cluster restored to T holds exactly the rows
// committed up to T, its replica clones from it, it archives and backs up to
// its own repository, and the source and its repository are untouched.
func TestPointInTimeRestore(t *testing.T) {
	ctx := context.Background()
	repo := func(base, cluster string) node.BackupRepo {
		return s3Repo(base, "/repo/"+cluster)
	}
	src := newClusterWith(t, "sync", func(base string, n *Node) {
		r := repo(base, n.Cluster)
		n.Backup = &r
	})
	primary := src.waitHealthy(t, 90*time.Second)
	sh, sn := src.dial(t, primary)
	if err := EnsureStanza(ctx, sh, sn); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, primary)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE TABLE pitr (v int PRIMARY KEY)")
	exec("INSERT INTO pitr SELECT generate_series(1, 100)")
	if err := StartBackup(ctx, sh, sn, "full", "before-t"); err != nil {
		t.Fatal(err)
	}
	full := waitBackup(t, sh, sn, "before-t")
	// pgBackRest picks the set to restore by its stop time, in seconds:
	// keep T in a later second than the backup's end.
	time.Sleep(1100 * time.Millisecond)

	// Each row its own transaction: recovery stops between commits.
	for v := 101; v <= 200; v++ {
		exec("INSERT INTO pitr VALUES ($1)", v)
	}
	var target time.Time
	if err := conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&target); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	for v := 201; v <= 300; v++ {
		exec("INSERT INTO pitr VALUES ($1)", v)
	}
	// Archive the segment holding the commits after T, or recovery could
	// not tell that it reached T.
	var segment string
	if err := conn.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&segment); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var archived string
		if err := conn.QueryRow(ctx, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver").Scan(&archived); err != nil {
			t.Fatal(err)
		}
		if archived >= segment {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived after 30s (last %q)", segment, archived)
		}
		time.Sleep(200 * time.Millisecond)
	}
	before, err := Backups(ctx, sh, sn)
	if err != nil {
		t.Fatal(err)
	}

	dst := src.another(t, "restored", 2, 20, "sync", func(base string, n *Node) {
		r := repo(base, n.Cluster)
		n.Backup = &r
		n.Restore = &node.Restore{Cluster: "orders", Repo: repo(base, "orders"), Target: target}
		n.Bootstrap = n.Name == "restored-0"
	})
	restored := dst.waitHealthy(t, 120*time.Second)
	rconn := connect(t, restored)
	var count, maxV int
	if err := rconn.QueryRow(ctx, "SELECT count(*), max(v) FROM pitr").Scan(&count, &maxV); err != nil {
		t.Fatal(err)
	}
	if count != 200 || maxV != 200 {
		t.Errorf("restored to %s: %d rows up to %d, want exactly the 200 committed by then", target, count, maxV)
	}
	// The restored cluster is a cluster of its own: writable, replicated,
	// archiving and backing up into its own repository.
	if _, err := rconn.Exec(ctx, "INSERT INTO pitr VALUES (1000)"); err != nil {
		t.Fatalf("write on the restored primary: %v", err)
	}
	for _, n := range dst.nodes {
		if n.Address == restored {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := psql(n.Address, "SELECT count(*) FROM pitr WHERE v = 1000")
			if err == nil && out == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s of the restored cluster does not have the new row: %s %v", n.Name, out, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	dh, dn := dst.dial(t, restored)
	if err := EnsureStanza(ctx, dh, dn); err != nil {
		t.Fatal(err)
	}
	if err := StartBackup(ctx, dh, dn, "full", "after-restore"); err != nil {
		t.Fatal(err)
	}
	waitBackup(t, dh, dn, "after-restore")
	// Nothing of the source's repository stays in the running configuration.
	out, err := psql(restored, "SELECT string_agg(name || '=' || setting, ',') FROM pg_settings WHERE name IN ('restore_command', 'recovery_target_time') AND setting <> ''")
	if err != nil || strings.Contains(out, "orders") {
		t.Errorf("recovery settings left after the restore: %q %v", out, err)
	}

	// The source: all its rows, its repository as it was.
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pitr").Scan(&count); err != nil || count != 300 {
		t.Errorf("source after the restore: %d rows, %v; want 300", count, err)
	}
	after, err := Backups(ctx, sh, sn)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Sets) != len(before.Sets) || after.Sets[0].Label != full.Label {
		t.Errorf("source repository changed by the restore: before %+v, after %+v", before.Sets, after.Sets)
	}
}

// dial connects to the node at address over SSH.
func (tc *testCluster) dial(t testing.TB, address string) (*sshexec.Client, Node) {
	t.Helper()
	for i, n := range tc.nodes {
		if n.Address == address {
			h, err := sshexec.Dial(context.Background(), tc.targets[i], adminPassword)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = h.Close() })
			return h, n
		}
	}
	t.Fatalf("no node at %s", address)
	return nil, Node{}
}

func connect(t testing.TB, address string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgresql://quorum_admin:%s@%s:5432/postgres?sslmode=disable", adminPassword, address))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// waitBackup waits for the backup annotated id to be in the repository.
func waitBackup(t testing.TB, h *sshexec.Client, n Node, id string) BackupSet {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		info, err := Backups(context.Background(), h, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range info.Sets {
			if s.Annotation == id && !info.Running {
				if s.Error {
					t.Fatalf("backup %s failed: %+v", id, s)
				}
				return s
			}
		}
		if time.Now().After(deadline) {
			st, _ := h.Run(context.Background(), "backup log", "tail -n 20 "+n.dir("log", "backup.out"))
			t.Fatalf("backup %s not in the repository after 90s: %+v\n%s", id, info, st.Stdout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
