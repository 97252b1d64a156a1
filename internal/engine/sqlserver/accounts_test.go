package sqlserver

import (
	"context"
	"database/sql/driver"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/internal/accounts"
)

// No SQL Server runs here: these tests pin the exact T-SQL and parameters
// sent, in order, with hostile names that would break naive quoting.

const (
	hostile = `x]; DROP LOGIN sa; --`
	salesDB = `sales]db`
)

func mock(t *testing.T) (*Admin, sqlmock.Sqlmock) {
	t.Helper()
	db, m, err := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.ExpectationsWereMet(); err != nil {
			t.Error(err)
		}
	})
	return New(db), m
}

func args(vs ...string) []driver.Value {
	out := make([]driver.Value, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func expectDatabases(m sqlmock.Sqlmock, dbs ...string) {
	r := sqlmock.NewRows([]string{"name"})
	for _, d := range dbs {
		r.AddRow(d)
	}
	m.ExpectQuery(sqlUserDatabases).WillReturnRows(r)
}

func expectRoles(m sqlmock.Sqlmock, db, user string, rs ...string) {
	r := sqlmock.NewRows([]string{"name"})
	for _, x := range rs {
		r.AddRow(x)
	}
	m.ExpectQuery(inDatabase(db, inRoles, false)).WithArgs(args(user)...).WillReturnRows(r)
}

func TestInDatabaseQuoting(t *testing.T) {
	got := inDatabase(salesDB, inAddMember, true)
	want := "EXEC [sales]]db].sys.sp_executesql N'DECLARE @s nvarchar(max) = N''ALTER ROLE '' + QUOTENAME(@role) + N'' ADD MEMBER '' + QUOTENAME(@name);\nEXEC (@s)', N'@name sysname, @role sysname', @name = @p1, @role = @p2"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestUserLifecycleStatements(t *testing.T) {
	ctx := context.Background()
	a, m := mock(t)
	u := accounts.User{Name: hostile, Password: "pw'; --", Grants: []accounts.Grant{
		{Database: salesDB, Privilege: accounts.Owner}, {Database: "hr", Privilege: accounts.ReadOnly},
	}}

	// Absent.
	m.ExpectQuery(sqlLogin).WithArgs(args(u.Password, hostile)...).WillReturnRows(sqlmock.NewRows([]string{"m", "d"}))
	if o, err := a.ObserveUser(ctx, u); o != nil || err != nil {
		t.Fatalf("absent login observed: %+v, %v", o, err)
	}

	// Created: names and password are parameters only.
	m.ExpectExec(sqlCreateLogin).WithArgs(args(hostile, u.Password)...).WillReturnResult(sqlmock.NewResult(0, 0))
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	// Observed with drift: readwrite roles in hr where readonly is wanted,
	// nothing in sales]db, a leftover role in old.
	m.ExpectQuery(sqlLogin).WithArgs(args(u.Password, hostile)...).WillReturnRows(sqlmock.NewRows([]string{"m", "d"}).AddRow(1, false))
	expectDatabases(m, "hr", "old", salesDB)
	expectRoles(m, "hr", hostile, "db_datareader", "db_datawriter")
	expectRoles(m, "old", hostile, "db_datareader")
	expectRoles(m, salesDB, hostile)
	o, err := a.ObserveUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	want := &accounts.ObservedUser{PasswordMatches: true, Drift: []string{
		`holds roles [db_datareader] in database "old" that no grant asks for`,
		`roles in database "hr" are [db_datareader db_datawriter], want [db_datareader]`,
		`roles in database "sales]db" are [], want [db_owner]`,
	}}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}

	// Repaired: exactly the missing memberships added, the extra removed.
	m.ExpectExec(sqlSetPassword).WithArgs(args(hostile, u.Password)...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(sqlEnableLogin).WithArgs(args(hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	expectDatabases(m, "hr", "old", salesDB)
	expectRoles(m, "hr", hostile, "db_datareader", "db_datawriter")
	expectRoles(m, "old", hostile, "db_datareader")
	expectRoles(m, salesDB, hostile)
	expectDatabases(m, "hr", "old", salesDB)
	m.ExpectExec(inDatabase("hr", inEnsureUser, false)).WithArgs(args(hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(inDatabase("hr", inDropMember, true)).WithArgs(args(hostile, "db_datawriter")...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(inDatabase("old", inDropMember, true)).WithArgs(args(hostile, "db_datareader")...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(inDatabase(salesDB, inEnsureUser, false)).WithArgs(args(hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(inDatabase(salesDB, inAddMember, true)).WithArgs(args(hostile, "db_owner")...).WillReturnResult(sqlmock.NewResult(0, 0))
	if err := a.UpdateUser(ctx, u, true); err != nil {
		t.Fatal(err)
	}

	// A grant on a database that does not exist yet waits with a clear error.
	m.ExpectExec(sqlEnableLogin).WithArgs(args(hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	expectDatabases(m, "hr")
	expectRoles(m, "hr", hostile, "db_datareader")
	expectDatabases(m, "hr")
	if err := a.UpdateUser(ctx, u, false); err == nil || !strings.Contains(err.Error(), `granted databases ["sales]db"] do not exist yet`) {
		t.Errorf("missing database: %v", err)
	}

	// Dropped: its user in every database, then the login.
	expectDatabases(m, "hr", salesDB)
	m.ExpectExec(inDatabase("hr", inDropUser, false)).WithArgs(args(hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(inDatabase(salesDB, inDropUser, false)).WithArgs(args(hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(sqlDropLogin).WithArgs(args(hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	if err := a.DropUser(ctx, hostile); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseStatements(t *testing.T) {
	ctx := context.Background()
	a, m := mock(t)
	m.ExpectExec(sqlCreateDatabase).WithArgs(args(salesDB)...).WillReturnResult(sqlmock.NewResult(0, 0))
	m.ExpectExec(sqlSetOwner).WithArgs(args(salesDB, hostile)...).WillReturnResult(sqlmock.NewResult(0, 0))
	if err := a.CreateDatabase(ctx, salesDB, hostile); err != nil {
		t.Fatal(err)
	}
	m.ExpectQuery(sqlDatabase).WithArgs(args(salesDB)...).WillReturnRows(sqlmock.NewRows([]string{"o", "s"}).AddRow(hostile, int64(16777216)))
	d, err := a.ObserveDatabase(ctx, salesDB)
	if diff := cmp.Diff(&accounts.ObservedDatabase{Owner: hostile, SizeBytes: 16777216}, d); diff != "" || err != nil {
		t.Errorf("observe (-want +got):\n%s %v", diff, err)
	}
	m.ExpectQuery(sqlDatabase).WithArgs(args("gone")...).WillReturnRows(sqlmock.NewRows([]string{"o", "s"}))
	if d, err := a.ObserveDatabase(ctx, "gone"); d != nil || err != nil {
		t.Errorf("absent database: %+v, %v", d, err)
	}
	m.ExpectExec(sqlDropDatabase).WithArgs(args(salesDB)...).WillReturnResult(sqlmock.NewResult(0, 0))
	if err := a.DropDatabase(ctx, salesDB); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	ctx := context.Background()
	a, _ := mock(t) // no statement may be sent
	for _, tc := range []struct {
		u    accounts.User
		want string
	}{
		{accounts.User{Name: "a\x00"}, "NUL"},
		{accounts.User{Name: "a", Password: strings.Repeat("p", 129)}, "at most 128"},
		{accounts.User{Name: "a", Grants: []accounts.Grant{{Database: "d", Privilege: "sysadmin"}}}, "grants[0].privilege"},
		{accounts.User{Name: "a", Grants: []accounts.Grant{{Database: "d", Privilege: "owner"}, {Database: "d", Privilege: "readonly"}}}, "granted twice"},
	} {
		if err := a.CreateUser(ctx, tc.u); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.u, err, tc.want)
		}
	}
}

// FuzzQuoteName: the quoted name is one bracketed token that unquotes back.
func FuzzQuoteName(f *testing.F) {
	for _, s := range []string{"sales", "a]b", "]]", "[", "x]; DROP LOGIN sa; --", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := QuoteName(s)
		if len(q) < 2 || q[0] != '[' || q[len(q)-1] != ']' {
			t.Fatalf("%q is not bracketed", q)
		}
		inner := q[1 : len(q)-1]
		if strings.Contains(strings.ReplaceAll(inner, "]]", ""), "]") {
			t.Fatalf("%q has an unescaped closing bracket", q)
		}
		if got := strings.ReplaceAll(inner, "]]", "]"); got != s {
			t.Fatalf("unquote(%q) = %q, want %q", q, got, s)
		}
	})
}
