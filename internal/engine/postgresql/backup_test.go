package postgresql

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quorumdb/quorum/internal/sshexec"
)

// TestBackups runs pgBackRest for real on a three-node Patroni cluster with
// a repository in the object store: WAL is archived, a full backup and then an
// incremental one are taken on the primary in the background, each found in
// the repository by its annotation with its LSN and WAL range.
func TestBackups(t *testing.T) {
	tc := newClusterWith(t, "sync", func(base string, n *Node) {
		r := s3Repo(base, "/repo")
		n.Backup = &r
	})
	primary := tc.waitHealthy(t, 90*time.Second)
	var pn Node
	var target sshexec.Target
	for i, n := range tc.nodes {
		if n.Address == primary {
			pn, target = n, tc.targets[i]
		}
	}
	ctx := context.Background()
	h, err := sshexec.Dial(ctx, target, adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close() //nolint:errcheck // Test.
	if err := EnsureStanza(ctx, h, pn); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStanza(ctx, h, pn); err != nil {
		t.Fatalf("stanza-create again: %v", err)
	}
	conn, err := pgx.Connect(ctx, "postgresql://quorum_admin:"+adminPassword+"@"+primary+":5432/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE b (v int); INSERT INTO b SELECT generate_series(1, 1000)"); err != nil {
		t.Fatal(err)
	}

	if err := StartBackup(ctx, h, pn, "full", "b1"); err != nil {
		t.Fatal(err)
	}
	full := waitBackup(t, h, pn, "b1")
	if full.Type != "full" || full.Error || full.SizeBytes == 0 || full.LSNStart == "" || full.WALStart == "" || full.WALStop == "" || !full.Finished.After(full.Started.Add(-time.Second)) {
		t.Errorf("full backup: %+v", full)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO b SELECT generate_series(1001, 2000)"); err != nil {
		t.Fatal(err)
	}
	if err := StartBackup(ctx, h, pn, "incr", "b2"); err != nil {
		t.Fatal(err)
	}
	incr := waitBackup(t, h, pn, "b2")
	if incr.Type != "incr" || incr.Error || incr.WALStart <= full.WALStop {
		t.Errorf("incremental backup after %s: %+v", full.WALStop, incr)
	}
	if err := StartBackup(ctx, h, pn, "weekly", "b3"); err == nil {
		t.Error("an unknown backup type was accepted")
	}
}
