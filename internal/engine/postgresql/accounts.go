package postgresql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/quorumdb/quorum/internal/accounts"
)

// maxIdentifier is PostgreSQL's NAMEDATALEN-1: longer names are silently
// truncated by the server, so they are refused instead.
const maxIdentifier = 63

// QuoteIdent quotes a PostgreSQL identifier: any character is allowed inside
// double quotes, with double quotes doubled. Names are checked for NUL bytes
// and invalid UTF-8 before they get here (accounts.CheckName).
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral quotes a string constant (standard_conforming_strings is on
// since PostgreSQL 9.1, so only single quotes need doubling).
func quoteLiteral(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// privileges per level, sorted as aclexplode reports them so the observed and
// desired sets compare directly.
type privileges struct{ database, schema, table, sequence []string }

func levelPrivileges(level string, serverVersion int) privileges {
	switch level {
	case accounts.Owner:
		table := []string{"DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"}
		if serverVersion >= 170000 {
			table = []string{"DELETE", "INSERT", "MAINTAIN", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"}
		}
		return privileges{database: []string{"CONNECT", "CREATE", "TEMPORARY"}, schema: []string{"CREATE", "USAGE"}, table: table, sequence: []string{"SELECT", "UPDATE", "USAGE"}}
	case accounts.ReadWrite:
		return privileges{database: []string{"CONNECT", "TEMPORARY"}, schema: []string{"USAGE"}, table: []string{"DELETE", "INSERT", "SELECT", "UPDATE"}, sequence: []string{"SELECT", "UPDATE", "USAGE"}}
	case accounts.ReadOnly:
		return privileges{database: []string{"CONNECT"}, schema: []string{"USAGE"}, table: []string{"SELECT"}, sequence: []string{"SELECT"}}
	}
	return privileges{database: []string{}, schema: []string{}, table: []string{}, sequence: []string{}}
}

// Admin manages roles and databases of a PostgreSQL cluster through its
// superuser, on the current primary.
type Admin struct {
	cfg     *pgx.ConnConfig
	conns   map[string]*pgx.Conn
	version int
}

var _ accounts.Admin = (*Admin)(nil)

// DialAdmin connects to the cluster's primary: all hosts are listed and a
// read-write session is required, so a failover between reconciles is
// followed.
func DialAdmin(ctx context.Context, e accounts.Endpoint) (accounts.Admin, error) {
	hosts := make([]string, len(e.Hosts))
	for i, h := range e.Hosts {
		hosts[i] = net.JoinHostPort(h, strconv.Itoa(cmpPort(e.Port)))
	}
	// Credentials are set on the parsed config, never put in the string,
	// so no parse error can echo them.
	q := url.Values{"target_session_attrs": {"read-write"}, "connect_timeout": {"5"}, "sslmode": {"prefer"}, "application_name": {"quorum-provider"}}
	cfg, err := pgx.ParseConfig("postgresql://" + strings.Join(hosts, ",") + "/postgres?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("cannot parse the admin endpoint: %w", err)
	}
	cfg.User, cfg.Password = e.Username, e.Password
	if len(e.CA) > 0 {
		// verify-full against the cluster's CA, on every host tried.
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(e.CA) {
			return nil, errors.New("the admin connection's ca.crt holds no PEM certificate")
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool, ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
		for _, f := range cfg.Fallbacks {
			f.TLSConfig = &tls.Config{RootCAs: pool, ServerName: f.Host, MinVersion: tls.VersionTLS12}
		}
	}
	a := &Admin{cfg: cfg, conns: map[string]*pgx.Conn{}}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	if err := c.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&a.version); err != nil {
		_ = a.Close(ctx)
		return nil, fmt.Errorf("cannot read the server version: %w", err)
	}
	return a, nil
}

func cmpPort(p int) int {
	if p == 0 {
		return 5432
	}
	return p
}

// conn returns a connection to one database of the cluster, opened on first
// use: privileges on schemas and tables can only be read and granted from
// inside their database.
func (a *Admin) conn(ctx context.Context, db string) (*pgx.Conn, error) {
	if c, ok := a.conns[db]; ok && !c.IsClosed() {
		return c, nil
	}
	cfg := a.cfg.Copy()
	cfg.Database = db
	if c := idle.get(ctx, connKey(cfg)); c != nil {
		a.conns[db] = c
		return c, nil
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to database %q as the administrator: %w", db, err)
	}
	a.conns[db] = c
	return c, nil
}

// Close hands every connection back for the next reconcile (see
// idleconns.go); one that cannot be reused is closed.
func (a *Admin) Close(ctx context.Context) error {
	for db, c := range a.conns {
		cfg := a.cfg.Copy()
		cfg.Database = db
		idle.put(ctx, connKey(cfg), c)
		delete(a.conns, db)
	}
	return nil
}

func checkUser(u accounts.User) error {
	if err := accounts.CheckName("spec.forProvider.name", u.Name, maxIdentifier); err != nil {
		return err
	}
	for i, g := range u.Grants {
		if err := accounts.CheckName(fmt.Sprintf("spec.forProvider.grants[%d].database", i), g.Database, maxIdentifier); err != nil {
			return err
		}
	}
	return accounts.CheckGrants(u.Grants)
}

// ObserveUser reads the role, checks its password against the stored SCRAM
// verifier (no login attempt), and compares its privileges on every granted
// database, schema, table and sequence with the desired level.
func (a *Admin) ObserveUser(ctx context.Context, u accounts.User) (*accounts.ObservedUser, error) {
	if err := checkUser(u); err != nil {
		return nil, err
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	var (
		oid      uint32
		verifier *string
		limit    int32
		login    bool
	)
	err = c.QueryRow(ctx, "SELECT oid, rolpassword, rolconnlimit, rolcanlogin FROM pg_authid WHERE rolname = $1", u.Name).Scan(&oid, &verifier, &limit, &login)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read role %q: %w", u.Name, err)
	}
	o := &accounts.ObservedUser{PasswordMatches: verifier != nil && passwordMatches(*verifier, u.Name, u.Password)}
	if !login {
		o.Drift = append(o.Drift, "role cannot log in")
	}
	if want := wantLimit(u); limit != want {
		o.Drift = append(o.Drift, fmt.Sprintf("connection limit is %d, want %d", limit, want))
	}
	held, existing, err := a.databaseACL(ctx, oid, u.Grants)
	if err != nil {
		return nil, err
	}
	for _, g := range u.Grants {
		if !existing[g.Database] {
			o.Drift = append(o.Drift, fmt.Sprintf("database %q does not exist yet", g.Database))
			continue
		}
		p := levelPrivileges(g.Privilege, a.version)
		if !slices.Equal(held[g.Database], p.database) {
			o.Drift = append(o.Drift, fmt.Sprintf("privileges on database %q are %v, want %v", g.Database, held[g.Database], p.database))
			continue
		}
		objs, err := a.misgranted(ctx, g.Database, oid, p)
		if err != nil {
			return nil, err
		}
		if len(objs) > 0 {
			o.Drift = append(o.Drift, fmt.Sprintf("%d objects in database %q do not carry %s privileges (first: %s)", len(objs), g.Database, g.Privilege, objs[0]))
			continue
		}
		o.Grants = append(o.Grants, g)
	}
	for db := range held {
		if !slices.ContainsFunc(u.Grants, func(g accounts.Grant) bool { return g.Database == db }) {
			o.Drift = append(o.Drift, fmt.Sprintf("holds privileges on database %q that no grant asks for", db))
		}
	}
	slices.Sort(o.Drift)
	return o, nil
}

func wantLimit(u accounts.User) int32 {
	if u.ConnectionLimit == nil {
		return -1
	}
	return *u.ConnectionLimit
}

// databaseACL returns the database privileges granted to a role explicitly,
// per database, and which of the granted databases exist.
func (a *Admin) databaseACL(ctx context.Context, oid uint32, grants []accounts.Grant) (map[string][]string, map[string]bool, error) {
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return nil, nil, err
	}
	rows, err := c.Query(ctx, `SELECT d.datname, array_agg(a.privilege_type ORDER BY a.privilege_type)
FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a WHERE a.grantee = $1 GROUP BY d.datname`, oid)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read database privileges: %w", err)
	}
	held := map[string][]string{}
	var (
		db    string
		privs []string
	)
	if _, err := pgx.ForEachRow(rows, []any{&db, &privs}, func() error { held[db] = privs; return nil }); err != nil {
		return nil, nil, fmt.Errorf("cannot read database privileges: %w", err)
	}
	names := make([]string, len(grants))
	for i, g := range grants {
		names[i] = g.Database
	}
	rows, err = c.Query(ctx, "SELECT datname FROM pg_database WHERE datname = ANY($1)", names)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot list databases: %w", err)
	}
	existing := map[string]bool{}
	if _, err := pgx.ForEachRow(rows, []any{&db}, func() error { existing[db] = true; return nil }); err != nil {
		return nil, nil, fmt.Errorf("cannot list databases: %w", err)
	}
	return held, existing, nil
}

// An object whose privileges for the role differ from the desired set.
type object struct {
	kind string // SCHEMA, TABLE or SEQUENCE
	name string // quoted, schema-qualified
}

func (o object) String() string { return strings.ToLower(o.kind) + " " + o.name }

// misgrantedSQL lists the schemas, tables (views, partitions, foreign tables)
// and sequences outside the system schemas whose privileges for the role are
// not exactly the wanted ones. Objects the role owns are its own business.
const misgrantedSQL = `
WITH acl(kind, name, owner, acl) AS (
  SELECT 'SCHEMA', quote_ident(n.nspname), n.nspowner, n.nspacl FROM pg_namespace n
  WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  UNION ALL
  SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
         format('%I.%I', n.nspname, c.relname), c.relowner, c.relacl
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
    AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
)
SELECT kind, name FROM acl
WHERE owner <> $1
  AND coalesce((SELECT array_agg(a.privilege_type ORDER BY a.privilege_type) FROM aclexplode(acl.acl) a WHERE a.grantee = $1), '{}')
      <> CASE kind WHEN 'SCHEMA' THEN $2::text[] WHEN 'TABLE' THEN $3::text[] ELSE $4::text[] END
ORDER BY kind, name`

func (a *Admin) misgranted(ctx context.Context, db string, oid uint32, p privileges) ([]object, error) {
	c, err := a.conn(ctx, db)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, misgrantedSQL, oid, p.schema, p.table, p.sequence)
	if err != nil {
		return nil, fmt.Errorf("cannot read privileges in database %q: %w", db, err)
	}
	var (
		out []object
		o   object
	)
	_, err = pgx.ForEachRow(rows, []any{&o.kind, &o.name}, func() error { out = append(out, o); return nil })
	if err != nil {
		return nil, fmt.Errorf("cannot read privileges in database %q: %w", db, err)
	}
	return out, nil
}

// CreateUser creates a login role with the password's SCRAM verifier.
func (a *Admin) CreateUser(ctx context.Context, u accounts.User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	v, err := scramVerifier(u.Password)
	if err != nil {
		return err
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN CONNECTION LIMIT %d PASSWORD %s", QuoteIdent(u.Name), wantLimit(u), quoteLiteral(v)))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42710" { // duplicate_object: created before a crash
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create role %q: %w", u.Name, err)
	}
	return nil
}

// UpdateUser converges the role on its desired state: password (when asked),
// login and connection limit, then grants on each database and the removal
// of privileges on databases no longer granted.
func (a *Admin) UpdateUser(ctx context.Context, u accounts.User, setPassword bool) error {
	if err := checkUser(u); err != nil {
		return err
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return err
	}
	role := QuoteIdent(u.Name)
	alter := fmt.Sprintf("ALTER ROLE %s LOGIN CONNECTION LIMIT %d", role, wantLimit(u))
	if setPassword {
		v, err := scramVerifier(u.Password)
		if err != nil {
			return err
		}
		alter += " PASSWORD " + quoteLiteral(v)
	}
	if _, err := c.Exec(ctx, alter); err != nil {
		return fmt.Errorf("cannot alter role %q: %w", u.Name, err)
	}
	var oid uint32
	if err := c.QueryRow(ctx, "SELECT oid FROM pg_roles WHERE rolname = $1", u.Name).Scan(&oid); err != nil {
		return fmt.Errorf("cannot read role %q: %w", u.Name, err)
	}
	held, existing, err := a.databaseACL(ctx, oid, u.Grants)
	if err != nil {
		return err
	}
	var waiting []string
	for _, g := range u.Grants {
		if !existing[g.Database] {
			waiting = append(waiting, g.Database)
			continue
		}
		if err := a.grant(ctx, g.Database, u.Name, oid, levelPrivileges(g.Privilege, a.version)); err != nil {
			return err
		}
	}
	for db := range held {
		if !slices.ContainsFunc(u.Grants, func(g accounts.Grant) bool { return g.Database == db }) {
			if err := a.grant(ctx, db, u.Name, oid, levelPrivileges("", a.version)); err != nil {
				return err
			}
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("granted databases %q do not exist yet; the grants are applied once their Database is ready", waiting)
	}
	return nil
}

// grant sets the role's privileges on a database and everything in it to
// exactly p (all empty revokes them), in one transaction per database.
func (a *Admin) grant(ctx context.Context, db, user string, oid uint32, p privileges) error {
	role, qdb := QuoteIdent(user), QuoteIdent(db)
	stmts := []string{fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM %s", qdb, role)}
	if len(p.database) > 0 {
		stmts = append(stmts, fmt.Sprintf("GRANT %s ON DATABASE %s TO %s", strings.Join(p.database, ", "), qdb, role))
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return err
	}
	if err := inTx(ctx, c, stmts); err != nil {
		return fmt.Errorf("cannot grant on database %q to %q: %w", db, user, err)
	}
	objs, err := a.misgranted(ctx, db, oid, p)
	if err != nil {
		return err
	}
	dc, err := a.conn(ctx, db)
	if err != nil {
		return err
	}
	var owner string
	if err := dc.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").Scan(&owner); err != nil {
		return fmt.Errorf("cannot read the owner of database %q: %w", db, err)
	}
	stmts = stmts[:0]
	for _, o := range objs {
		stmts = append(stmts, fmt.Sprintf("REVOKE ALL ON %s %s FROM %s", o.kind, o.name, role))
		want := map[string][]string{"SCHEMA": p.schema, "TABLE": p.table, "SEQUENCE": p.sequence}[o.kind]
		if len(want) > 0 {
			stmts = append(stmts, fmt.Sprintf("GRANT %s ON %s %s TO %s", strings.Join(want, ", "), o.kind, o.name, role))
		}
	}
	// Objects the database owner creates later get the same privileges at
	// once; objects created by other roles are caught by the next observe.
	if owner != user {
		o := QuoteIdent(owner)
		stmts = append(stmts,
			fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE ALL ON TABLES FROM %s", o, role),
			fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE ALL ON SEQUENCES FROM %s", o, role))
		if len(p.table) > 0 {
			stmts = append(stmts,
				fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT %s ON TABLES TO %s", o, strings.Join(p.table, ", "), role),
				fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT %s ON SEQUENCES TO %s", o, strings.Join(p.sequence, ", "), role))
		}
	}
	if err := inTx(ctx, dc, stmts); err != nil {
		return fmt.Errorf("cannot grant in database %q to %q: %w", db, user, err)
	}
	return nil
}

func inTx(ctx context.Context, c *pgx.Conn, stmts []string) error {
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// DropUser reassigns what the role owns to the administrator in every
// database (its tables are kept), drops its privileges, then the role.
func (a *Admin) DropUser(ctx context.Context, name string) error {
	if err := accounts.CheckName("spec.forProvider.name", name, maxIdentifier); err != nil {
		return err
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return err
	}
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("cannot read role %q: %w", name, err)
	}
	if !exists {
		return nil
	}
	rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname")
	if err != nil {
		return fmt.Errorf("cannot list databases: %w", err)
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("cannot list databases: %w", err)
	}
	role := QuoteIdent(name)
	for _, db := range dbs {
		dc, err := a.conn(ctx, db)
		if err != nil {
			return err
		}
		if err := inTx(ctx, dc, []string{"REASSIGN OWNED BY " + role + " TO CURRENT_USER", "DROP OWNED BY " + role}); err != nil {
			return fmt.Errorf("cannot release what role %q owns in database %q: %w", name, db, err)
		}
	}
	if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
		return fmt.Errorf("cannot drop role %q: %w", name, err)
	}
	return nil
}

// ObserveDatabase reads a database's owner and size.
func (a *Admin) ObserveDatabase(ctx context.Context, name string) (*accounts.ObservedDatabase, error) {
	if err := accounts.CheckName("spec.forProvider.name", name, maxIdentifier); err != nil {
		return nil, err
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	o := &accounts.ObservedDatabase{}
	err = c.QueryRow(ctx, "SELECT pg_get_userbyid(datdba), pg_database_size(oid) FROM pg_database WHERE datname = $1", name).Scan(&o.Owner, &o.SizeBytes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read database %q: %w", name, err)
	}
	return o, nil
}

func (a *Admin) ownerExists(ctx context.Context, c *pgx.Conn, owner string) error {
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", owner).Scan(&exists); err != nil {
		return fmt.Errorf("cannot read role %q: %w", owner, err)
	}
	if !exists {
		return fmt.Errorf("owner %q does not exist yet; the database is created once its User is", owner)
	}
	return nil
}

// CreateDatabase creates a database owned by owner, or by the administrator
// when owner is empty.
func (a *Admin) CreateDatabase(ctx context.Context, name, owner string) error {
	if err := accounts.CheckName("spec.forProvider.name", name, maxIdentifier); err != nil {
		return err
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return err
	}
	stmt := "CREATE DATABASE " + QuoteIdent(name)
	if owner != "" {
		if err := a.ownerExists(ctx, c, owner); err != nil {
			return err
		}
		stmt += " OWNER " + QuoteIdent(owner)
	}
	_, err = c.Exec(ctx, stmt)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P04" { // duplicate_database: created before a crash
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create database %q: %w", name, err)
	}
	return nil
}

// UpdateDatabase gives the database back to its owner.
func (a *Admin) UpdateDatabase(ctx context.Context, name, owner string) error {
	if owner == "" {
		return nil
	}
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return err
	}
	if err := a.ownerExists(ctx, c, owner); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", QuoteIdent(name), QuoteIdent(owner))); err != nil {
		return fmt.Errorf("cannot change the owner of database %q: %w", name, err)
	}
	return nil
}

// DropDatabase drops the database. Open sessions make it fail with the
// server's message rather than being terminated.
func (a *Admin) DropDatabase(ctx context.Context, name string) error {
	c, err := a.conn(ctx, "postgres")
	if err != nil {
		return err
	}
	if dc, ok := a.conns[name]; ok {
		_ = dc.Close(ctx)
		delete(a.conns, name)
	}
	// Our own idle sessions in it would be "other users" to the server.
	cfg := a.cfg.Copy()
	cfg.Database = name
	idle.drain(ctx, connKey(cfg))
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+QuoteIdent(name)); err != nil {
		return fmt.Errorf("cannot drop database %q: %w", name, err)
	}
	return nil
}
