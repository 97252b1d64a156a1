// Package sqlserver manages SQL Server logins, database users and databases
// (go-mssqldb) and builds the availability group T-SQL of a node.
//
// No SQL Server runs on our machines: the tests pin the exact T-SQL sent and
// its parameters (go-sqlmock). Names and passwords are always parameters;
// statements that cannot take parameters (CREATE LOGIN, ALTER ROLE, ...)
// are built server-side with QUOTENAME from those parameters, never by
// concatenating values in Go. The one exception is the database part of a
// three-part name, quoted by QuoteName and fuzzed.
package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/quorumdb/quorum/internal/accounts"
)

// maxName is sysname's length in characters; QUOTENAME returns NULL beyond
// 128, so longer values are refused before they reach the server.
const maxName = 128

// roles maps a privilege level to fixed database roles.
var roles = map[string][]string{
	accounts.Owner:     {"db_owner"},
	accounts.ReadWrite: {"db_datareader", "db_datawriter"},
	accounts.ReadOnly:  {"db_datareader"},
}

// QuoteName quotes a SQL Server identifier like QUOTENAME: brackets, with
// closing brackets doubled.
func QuoteName(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

// nstring quotes a constant of this package as a Unicode string literal. It
// is only ever given statement text written here, never a value.
func nstring(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

// The statements, exactly as sent.
const (
	sqlLogin = `SELECT CAST(PWDCOMPARE(@p1, password_hash) AS int), is_disabled FROM sys.sql_logins WHERE name = @p2`

	sqlUserDatabases = `SELECT name FROM sys.databases WHERE database_id > 4 AND state_desc = N'ONLINE' ORDER BY name`

	sqlCreateLogin = `IF SUSER_ID(@p1) IS NULL
BEGIN
  DECLARE @s nvarchar(max) = N'CREATE LOGIN ' + QUOTENAME(@p1) + N' WITH PASSWORD = ' + QUOTENAME(@p2, '''') + N', CHECK_POLICY = OFF';
  EXEC (@s);
END`

	sqlSetPassword = `DECLARE @s nvarchar(max) = N'ALTER LOGIN ' + QUOTENAME(@p1) + N' WITH PASSWORD = ' + QUOTENAME(@p2, '''');
EXEC (@s)`

	sqlEnableLogin = `DECLARE @s nvarchar(max) = N'ALTER LOGIN ' + QUOTENAME(@p1) + N' ENABLE';
EXEC (@s)`

	sqlDropLogin = `IF SUSER_ID(@p1) IS NOT NULL
BEGIN
  DECLARE @s nvarchar(max) = N'DROP LOGIN ' + QUOTENAME(@p1);
  EXEC (@s);
END`

	// Run inside one database through <db>.sys.sp_executesql.
	inRoles = `SELECT r.name FROM sys.database_role_members m
JOIN sys.database_principals r ON r.principal_id = m.role_principal_id
WHERE m.member_principal_id = DATABASE_PRINCIPAL_ID(@name) ORDER BY r.name`

	inEnsureUser = `IF DATABASE_PRINCIPAL_ID(@name) IS NULL
BEGIN
  DECLARE @s nvarchar(max) = N'CREATE USER ' + QUOTENAME(@name) + N' FOR LOGIN ' + QUOTENAME(@name);
  EXEC (@s);
END`

	inAddMember = `DECLARE @s nvarchar(max) = N'ALTER ROLE ' + QUOTENAME(@role) + N' ADD MEMBER ' + QUOTENAME(@name);
EXEC (@s)`

	inDropMember = `DECLARE @s nvarchar(max) = N'ALTER ROLE ' + QUOTENAME(@role) + N' DROP MEMBER ' + QUOTENAME(@name);
EXEC (@s)`

	inDropUser = `IF DATABASE_PRINCIPAL_ID(@name) IS NOT NULL
BEGIN
  DECLARE @s nvarchar(max) = N'DROP USER ' + QUOTENAME(@name);
  EXEC (@s);
END`

	sqlDatabase = `SELECT SUSER_SNAME(d.owner_sid), (SELECT SUM(CAST(f.size AS bigint)) * 8192 FROM sys.master_files f WHERE f.database_id = d.database_id)
FROM sys.databases d WHERE d.name = @p1`

	// On the primary of an availability group the new database joins it
	// (full recovery and a first full backup are what joining requires;
	// automatic seeding copies it to the secondaries), or it would have no
	// replica.
	sqlCreateDatabase = `IF DB_ID(@p1) IS NULL
BEGIN
  DECLARE @s nvarchar(max) = N'CREATE DATABASE ' + QUOTENAME(@p1);
  EXEC (@s);
END
DECLARE @ag sysname = (SELECT TOP 1 g.name FROM sys.availability_groups g
  JOIN sys.dm_hadr_availability_replica_states r ON r.group_id = g.group_id AND r.is_local = 1 WHERE r.role_desc = N'PRIMARY');
IF @ag IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sys.availability_databases_cluster WHERE database_name = @p1)
BEGIN
  DECLARE @j nvarchar(max) = N'ALTER DATABASE ' + QUOTENAME(@p1) + N' SET RECOVERY FULL; BACKUP DATABASE ' + QUOTENAME(@p1) + N' TO DISK = N''/dev/null''; ALTER AVAILABILITY GROUP ' + QUOTENAME(@ag) + N' ADD DATABASE ' + QUOTENAME(@p1);
  EXEC (@j);
END`

	sqlSetOwner = `DECLARE @s nvarchar(max) = N'ALTER AUTHORIZATION ON DATABASE::' + QUOTENAME(@p1) + N' TO ' + QUOTENAME(@p2);
EXEC (@s)`

	// A database in an availability group leaves it first.
	sqlDropDatabase = `DECLARE @ag sysname = (SELECT TOP 1 g.name FROM sys.availability_groups g
  JOIN sys.availability_databases_cluster d ON d.group_id = g.group_id WHERE d.database_name = @p1);
IF @ag IS NOT NULL
BEGIN
  DECLARE @r nvarchar(max) = N'ALTER AVAILABILITY GROUP ' + QUOTENAME(@ag) + N' REMOVE DATABASE ' + QUOTENAME(@p1);
  EXEC (@r);
END
IF DB_ID(@p1) IS NOT NULL
BEGIN
  DECLARE @s nvarchar(max) = N'DROP DATABASE ' + QUOTENAME(@p1);
  EXEC (@s);
END`
)

// inDatabase wraps a statement to run inside database db with @name (and
// @role) bound to parameters.
func inDatabase(db, stmt string, withRole bool) string {
	if withRole {
		return "EXEC " + QuoteName(db) + ".sys.sp_executesql " + nstring(stmt) + ", N'@name sysname, @role sysname', @name = @p1, @role = @p2"
	}
	return "EXEC " + QuoteName(db) + ".sys.sp_executesql " + nstring(stmt) + ", N'@name sysname', @name = @p1"
}

// Admin manages logins and databases of an instance or availability group.
type Admin struct{ db *sql.DB }

var _ accounts.Admin = (*Admin)(nil)

// DialAdmin connects to the first host (the availability group listener
// when there is one) as the administrator login.
func DialAdmin(ctx context.Context, e accounts.Endpoint) (accounts.Admin, error) {
	if len(e.Hosts) == 0 {
		return nil, errors.New("the admin connection has no host")
	}
	port := e.Port
	if port == 0 {
		port = 1433
	}
	q := url.Values{"database": {"master"}, "app name": {"quorum-provider"}, "dial timeout": {"5"}}
	if len(e.Hosts) > 1 {
		q.Set("multisubnetfailover", "true")
	}
	if len(e.CA) > 0 {
		q.Set("encrypt", "true")
	}
	u := &url.URL{Scheme: "sqlserver", User: url.UserPassword(e.Username, e.Password), Host: net.JoinHostPort(e.Hosts[0], strconv.Itoa(port)), RawQuery: q.Encode()}
	cfgConnector, err := mssql.NewConnector(u.String())
	if err != nil {
		return nil, errors.New("cannot parse the admin connection (details withheld: they hold the password)")
	}
	db := sql.OpenDB(cfgConnector)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot reach SQL Server as the administrator: %w", err)
	}
	return New(db), nil
}

// New manages logins through an open connection pool.
func New(db *sql.DB) *Admin { return &Admin{db: db} }

// Close closes the pool.
func (a *Admin) Close(context.Context) error { return a.db.Close() }

func check(u accounts.User) error {
	if err := accounts.CheckName("spec.forProvider.name", u.Name, maxName); err != nil {
		return err
	}
	if len([]rune(u.Password)) > maxName {
		return fmt.Errorf("the password is %d characters long; SQL Server logins take at most %d", len([]rune(u.Password)), maxName)
	}
	for i, g := range u.Grants {
		if err := accounts.CheckName(fmt.Sprintf("spec.forProvider.grants[%d].database", i), g.Database, maxName); err != nil {
			return err
		}
	}
	return accounts.CheckGrants(u.Grants)
}

func (a *Admin) userDatabases(ctx context.Context) ([]string, error) {
	rows, err := a.db.QueryContext(ctx, sqlUserDatabases)
	if err != nil {
		return nil, fmt.Errorf("cannot list databases: %w", err)
	}
	defer rows.Close()
	var dbs []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("cannot list databases: %w", err)
		}
		dbs = append(dbs, n)
	}
	return dbs, rows.Err()
}

// memberships returns the login's database roles in every user database.
func (a *Admin) memberships(ctx context.Context, name string) (map[string][]string, error) {
	dbs, err := a.userDatabases(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string][]string{}
	for _, db := range dbs {
		rows, err := a.db.QueryContext(ctx, inDatabase(db, inRoles, false), name)
		if err != nil {
			return nil, fmt.Errorf("cannot read roles in database %q: %w", db, err)
		}
		var rs []string
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cannot read roles in database %q: %w", db, err)
			}
			rs = append(rs, r)
		}
		rows.Close()
		if len(rs) > 0 {
			held[db] = rs
		}
	}
	return held, nil
}

// ObserveUser reads the login, compares its password with PWDCOMPARE (no
// login attempt) and its role memberships with the grants.
func (a *Admin) ObserveUser(ctx context.Context, u accounts.User) (*accounts.ObservedUser, error) {
	if err := check(u); err != nil {
		return nil, err
	}
	var match, disabled bool
	var m int
	err := a.db.QueryRowContext(ctx, sqlLogin, u.Password, u.Name).Scan(&m, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read login %q: %w", u.Name, err)
	}
	match = m == 1
	o := &accounts.ObservedUser{PasswordMatches: match}
	if disabled {
		o.Drift = append(o.Drift, "login is disabled")
	}
	held, err := a.memberships(ctx, u.Name)
	if err != nil {
		return nil, err
	}
	for _, g := range u.Grants {
		if want := roles[g.Privilege]; slices.Equal(held[g.Database], want) {
			o.Grants = append(o.Grants, g)
		} else {
			o.Drift = append(o.Drift, fmt.Sprintf("roles in database %q are %v, want %v", g.Database, held[g.Database], want))
		}
		delete(held, g.Database)
	}
	for db, rs := range held {
		o.Drift = append(o.Drift, fmt.Sprintf("holds roles %v in database %q that no grant asks for", rs, db))
	}
	slices.Sort(o.Drift)
	return o, nil
}

// CreateUser creates the login (not yet its database users).
func (a *Admin) CreateUser(ctx context.Context, u accounts.User) error {
	if err := check(u); err != nil {
		return err
	}
	if _, err := a.db.ExecContext(ctx, sqlCreateLogin, u.Name, u.Password); err != nil {
		return fmt.Errorf("cannot create login %q: %w", u.Name, err)
	}
	return nil
}

// UpdateUser sets the password when asked, enables the login, and makes its
// role memberships in every database exactly those of its grants.
func (a *Admin) UpdateUser(ctx context.Context, u accounts.User, setPassword bool) error {
	if err := check(u); err != nil {
		return err
	}
	if setPassword {
		if _, err := a.db.ExecContext(ctx, sqlSetPassword, u.Name, u.Password); err != nil {
			return fmt.Errorf("cannot set the password of login %q: %w", u.Name, err)
		}
	}
	if _, err := a.db.ExecContext(ctx, sqlEnableLogin, u.Name); err != nil {
		return fmt.Errorf("cannot enable login %q: %w", u.Name, err)
	}
	held, err := a.memberships(ctx, u.Name)
	if err != nil {
		return err
	}
	dbs, err := a.userDatabases(ctx)
	if err != nil {
		return err
	}
	var waiting []string
	want := map[string][]string{}
	for _, g := range u.Grants {
		if !slices.Contains(dbs, g.Database) {
			waiting = append(waiting, g.Database)
			continue
		}
		want[g.Database] = roles[g.Privilege]
	}
	for _, db := range dbs {
		w, h := want[db], held[db]
		if slices.Equal(w, h) {
			continue
		}
		if len(w) > 0 {
			if _, err := a.db.ExecContext(ctx, inDatabase(db, inEnsureUser, false), u.Name); err != nil {
				return fmt.Errorf("cannot create user %q in database %q: %w", u.Name, db, err)
			}
		}
		for _, r := range w {
			if !slices.Contains(h, r) {
				if _, err := a.db.ExecContext(ctx, inDatabase(db, inAddMember, true), u.Name, r); err != nil {
					return fmt.Errorf("cannot add %q to role %s in database %q: %w", u.Name, r, db, err)
				}
			}
		}
		for _, r := range h {
			if !slices.Contains(w, r) {
				if _, err := a.db.ExecContext(ctx, inDatabase(db, inDropMember, true), u.Name, r); err != nil {
					return fmt.Errorf("cannot remove %q from role %s in database %q: %w", u.Name, r, db, err)
				}
			}
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("granted databases %q do not exist yet; the grants are applied once their Database is ready", waiting)
	}
	return nil
}

// DropUser drops the login's user in every database, then the login.
func (a *Admin) DropUser(ctx context.Context, name string) error {
	if err := accounts.CheckName("spec.forProvider.name", name, maxName); err != nil {
		return err
	}
	dbs, err := a.userDatabases(ctx)
	if err != nil {
		return err
	}
	for _, db := range dbs {
		if _, err := a.db.ExecContext(ctx, inDatabase(db, inDropUser, false), name); err != nil {
			return fmt.Errorf("cannot drop user %q in database %q: %w", name, db, err)
		}
	}
	if _, err := a.db.ExecContext(ctx, sqlDropLogin, name); err != nil {
		return fmt.Errorf("cannot drop login %q: %w", name, err)
	}
	return nil
}

// ObserveDatabase reads the database's owner login and size.
func (a *Admin) ObserveDatabase(ctx context.Context, name string) (*accounts.ObservedDatabase, error) {
	if err := accounts.CheckName("spec.forProvider.name", name, maxName); err != nil {
		return nil, err
	}
	var owner sql.NullString
	var size sql.NullInt64
	err := a.db.QueryRowContext(ctx, sqlDatabase, name).Scan(&owner, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read database %q: %w", name, err)
	}
	return &accounts.ObservedDatabase{Owner: owner.String, SizeBytes: size.Int64}, nil
}

// CreateDatabase creates the database and gives it to its owner login.
func (a *Admin) CreateDatabase(ctx context.Context, name, owner string) error {
	if err := accounts.CheckName("spec.forProvider.name", name, maxName); err != nil {
		return err
	}
	if _, err := a.db.ExecContext(ctx, sqlCreateDatabase, name); err != nil {
		return fmt.Errorf("cannot create database %q: %w", name, err)
	}
	return a.UpdateDatabase(ctx, name, owner)
}

// UpdateDatabase gives the database to its owner login.
func (a *Admin) UpdateDatabase(ctx context.Context, name, owner string) error {
	if owner == "" {
		return nil
	}
	if _, err := a.db.ExecContext(ctx, sqlSetOwner, name, owner); err != nil {
		return fmt.Errorf("cannot give database %q to login %q (it must exist first): %w", name, owner, err)
	}
	return nil
}

// DropDatabase drops the database.
func (a *Admin) DropDatabase(ctx context.Context, name string) error {
	if _, err := a.db.ExecContext(ctx, sqlDropDatabase, name); err != nil {
		return fmt.Errorf("cannot drop database %q: %w", name, err)
	}
	return nil
}
