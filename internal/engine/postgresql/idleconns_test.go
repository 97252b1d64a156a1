package postgresql

import (
	"context"
	"testing"

	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/engine/postgresql/pgtest"
)

// TestIdleConnections: an administrator connection closed by one
// reconcile is the next one's (same server session), unless it was left
// inside a transaction; a database the provider drops is not held open by
// its idle sessions.
func TestIdleConnections(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	e := accounts.Endpoint{Engine: "postgresql", Hosts: []string{srv.Host}, Port: srv.Port, Username: srv.AdminUser, Password: srv.AdminPassword}
	backend := func(a accounts.Admin, db string) uint32 {
		t.Helper()
		c, err := a.(*Admin).conn(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		var pid uint32
		if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	dial := func() accounts.Admin {
		t.Helper()
		a, err := DialAdmin(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	a := dial()
	first := backend(a, "postgres")
	_ = a.Close(ctx)
	b := dial()
	if got := backend(b, "postgres"); got != first {
		t.Errorf("second reconcile's session: backend %d, want the idle one %d", got, first)
	}
	// Left inside a transaction: never handed to another reconcile.
	c, _ := b.(*Admin).conn(ctx, "postgres")
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	_ = b.Close(ctx)
	d := dial()
	if got := backend(d, "postgres"); got == first {
		t.Errorf("a session left in a transaction was reused (backend %d)", got)
	}

	// A database with an idle session of ours drops.
	if err := d.CreateDatabase(ctx, "scratch", srv.AdminUser); err != nil {
		t.Fatal(err)
	}
	_ = backend(d, "scratch")
	_ = d.Close(ctx)
	f := dial()
	defer f.Close(ctx) //nolint:errcheck // Test.
	if err := f.DropDatabase(ctx, "scratch"); err != nil {
		t.Errorf("DropDatabase with our idle session in it: %v", err)
	}
}
