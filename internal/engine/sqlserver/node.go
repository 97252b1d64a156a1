package sqlserver

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/quorumdb/quorum/internal/engine/disk"
	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// AdminUser is SQL Server's built-in administrator, whose password
// mssql-conf setup sets.
const AdminUser = "sa"

// Ports of a node.
const (
	DefaultPort  = 1433
	EndpointPort = 5022
)

// Paths of SQL Server's packages on Debian/Ubuntu and RHEL alike.
const (
	mssqlConf = "/opt/mssql/bin/mssql-conf"
	confFile  = "/var/opt/mssql/mssql.conf"
	certName  = "quorum_ag"
	endpoint  = "quorum_hadr"
)

// sqlcmd is mssql-tools18's client (a variable so tests can run the
// scripts around it with a stand-in).
var sqlcmd = "/opt/mssql-tools18/bin/sqlcmd"

// Shared keys the bootstrap member publishes for the others: the
// availability group certificate and its private key (encrypted with the
// cluster's replication secret), as BACKUP CERTIFICATE writes them.
const (
	SharedCert = "sqlserver-ag.cer"
	SharedKey  = "sqlserver-ag.pvk"
)

// allowedParameters are the mssql-conf settings a spec may set.
var allowedParameters = []string{"memory.memorylimitmb", "sqlagent.enabled", "telemetry.customerfeedback"}

// NewRole is SQL Server's node.Factory: mssql-server configured with
// mssql-conf, an availability group (CLUSTER_TYPE = NONE: failover is the
// provider's switchover, there is no Pacemaker) across the members, joined
// by certificate-authenticated endpoints.
func NewRole(s node.Spec) (node.Role, error) {
	if s.Restore != nil {
		if !s.Restore.Target.IsZero() {
			return nil, fmt.Errorf("spec.forProvider.restoreFrom.pointInTime: SQL Server restores go to the end of a full backup; remove pointInTime or name a backup")
		}
		if t := s.Restore.Repo.Type; t != "filesystem" && t != "" {
			return nil, fmt.Errorf("spec.forProvider.restoreFrom.repository.type %s: SQL Server clusters are formed from filesystem repositories only; restore from %s with RESTORE DATABASE ... FROM URL into an empty database", t, t)
		}
		if b := s.Restore.Backup; b != "" && !strings.HasSuffix(b, "F") {
			return nil, fmt.Errorf("spec.forProvider.restoreFrom.backup %s: name a full backup (its label ends in F)", b)
		}
	}
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	for k := range s.Parameters {
		if !slices.Contains(allowedParameters, k) {
			return nil, fmt.Errorf("spec.forProvider.parameters.%s is not an mssql-conf setting Quorum manages; allowed: %s", k, strings.Join(allowedParameters, ", "))
		}
	}
	return &role{s: s, dial: dial}, nil
}

type role struct {
	s    node.Spec
	dial func(ctx context.Context, address string, port int, password string) (*sql.DB, error)
	// clock names backup sets; time.Now when nil.
	clock func() time.Time
}

func dial(ctx context.Context, address string, port int, password string) (*sql.DB, error) {
	u := &url.URL{Scheme: "sqlserver", User: url.UserPassword(AdminUser, password), Host: net.JoinHostPort(address, strconv.Itoa(port)),
		RawQuery: url.Values{"database": {"master"}, "dial timeout": {"3"}, "app name": {"quorum-provider"}}.Encode()}
	c, err := mssql.NewConnector(u.String())
	if err != nil {
		return nil, errors.New("cannot build the SQL Server connection (details withheld: they hold the password)")
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot reach SQL Server on %s: %w", address, err)
	}
	return db, nil
}

func (r *role) dir(p ...string) string { return path.Join(append([]string{r.s.BaseDir}, p...)...) }

func (r *role) AdminUser() string { return AdminUser }

// literal quotes a T-SQL Unicode string constant.
func literal(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Conf is /var/opt/mssql/mssql.conf, the file mssql-conf manages: TCP port,
// memory limit (80% of the host unless set), availability groups on.
func (r *role) Conf() []byte {
	mem := strconv.Itoa(max(r.s.MemoryMiB*4/5, 2048))
	if v, ok := r.s.Parameters["memory.memorylimitmb"]; ok {
		mem = v
	}
	var b strings.Builder
	b.WriteString("# Written by Quorum. Changes are reverted.\n[EULA]\naccepteula = Y\n\n")
	fmt.Fprintf(&b, "[network]\ntcpport = %d\n\n[memory]\nmemorylimitmb = %s\n\n[hadr]\nhadrenabled = 1\n", r.s.Port, mem)
	if r.s.DataDisk != "" {
		// User databases' files on the data disk (master stays in
		// /var/opt/mssql, where setup puts it).
		fmt.Fprintf(&b, "\n[filelocation]\ndefaultdatadir = %s\ndefaultlogdir = %s\n", r.dir("data"), r.dir("log"))
	}
	if v, ok := r.s.Parameters["sqlagent.enabled"]; ok {
		fmt.Fprintf(&b, "\n[sqlagent]\nenabled = %s\n", v)
	}
	if v, ok := r.s.Parameters["telemetry.customerfeedback"]; ok {
		fmt.Fprintf(&b, "\n[telemetry]\ncustomerfeedback = %s\n", v)
	}
	return []byte(b.String())
}

// env holds the secrets mssql-conf setup and sqlcmd read from the
// environment, in a root-only file: never on a command line.
func (r *role) env() []byte {
	return []byte("ACCEPT_EULA=Y\nMSSQL_PID=Developer\nMSSQL_SA_PASSWORD=" + shellValue(r.s.AdminPassword) + "\nSQLCMDPASSWORD=" + shellValue(r.s.AdminPassword) + "\n")
}

func shellValue(s string) string { return host.Quote(s) }

func (r *role) ConfigSum() string {
	h := sha256.New()
	h.Write(r.Conf())
	h.Write(r.env())
	return hex.EncodeToString(h.Sum(nil))
}

// sqlcmdRun runs a T-SQL file as sa, reading the password from the env file.
func (r *role) sqlcmdRun(file string) string {
	return fmt.Sprintf("set -a; . %s; set +a; %s -C -b -S 127.0.0.1,%d -U sa -i %s", host.Quote(r.dir("mssql.env")), sqlcmd, r.s.Port, host.Quote(file))
}

// CertificateSQL creates the database master key and the availability group
// certificate: the bootstrap member creates it and backs it up to files for
// the others, the others create it from those files.
func (r *role) CertificateSQL() string {
	pw := literal(r.s.ReplicationPassword)
	var b strings.Builder
	fmt.Fprintf(&b, "IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##')\n  CREATE MASTER KEY ENCRYPTION BY PASSWORD = %s;\n", pw)
	if r.s.Bootstrap {
		fmt.Fprintf(&b, "IF CERT_ID(N'%s') IS NULL\n  CREATE CERTIFICATE %s WITH SUBJECT = %s, EXPIRY_DATE = '20361231';\n", certName, certName, literal("Quorum availability group "+r.s.Cluster))
		fmt.Fprintf(&b, "BACKUP CERTIFICATE %s TO FILE = %s WITH PRIVATE KEY (FILE = %s, ENCRYPTION BY PASSWORD = %s);\n",
			certName, literal(r.dir("ag.cer")), literal(r.dir("ag.pvk")), pw)
	} else {
		fmt.Fprintf(&b, "IF CERT_ID(N'%s') IS NULL\n  CREATE CERTIFICATE %s FROM FILE = %s WITH PRIVATE KEY (FILE = %s, DECRYPTION BY PASSWORD = %s);\n",
			certName, certName, literal(r.dir("ag.cer")), literal(r.dir("ag.pvk")), pw)
	}
	fmt.Fprintf(&b, "IF NOT EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints WHERE name = N'%s')\n", endpoint)
	fmt.Fprintf(&b, "  CREATE ENDPOINT %s AS TCP (LISTENER_PORT = %d) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE %s, ENCRYPTION = REQUIRED ALGORITHM AES);\n", endpoint, EndpointPort, certName)
	fmt.Fprintf(&b, "ALTER ENDPOINT %s STATE = STARTED;\n", endpoint)
	return b.String()
}

// AvailabilityGroupSQL creates the group on the bootstrap member, or joins
// it on the others; both let automatic seeding create databases.
func (r *role) AvailabilityGroupSQL() string {
	ag := QuoteName(r.s.Cluster)
	mode := "ASYNCHRONOUS_COMMIT"
	if r.s.Replication == "sync" {
		mode = "SYNCHRONOUS_COMMIT"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "IF NOT EXISTS (SELECT 1 FROM sys.availability_groups WHERE name = %s)\n", literal(r.s.Cluster))
	if r.s.Bootstrap {
		replicas := make([]string, len(r.s.Members))
		for i, m := range r.s.Members {
			replicas[i] = fmt.Sprintf("  %s WITH (ENDPOINT_URL = %s, AVAILABILITY_MODE = %s, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SECONDARY_ROLE (ALLOW_CONNECTIONS = ALL))",
				literal(m.Name), literal(fmt.Sprintf("tcp://%s", net.JoinHostPort(m.Address, strconv.Itoa(EndpointPort)))), mode)
		}
		fmt.Fprintf(&b, "  CREATE AVAILABILITY GROUP %s WITH (CLUSTER_TYPE = NONE, DB_FAILOVER = ON) FOR REPLICA ON\n%s;\n", ag, strings.Join(replicas, ",\n"))
	} else {
		fmt.Fprintf(&b, "  ALTER AVAILABILITY GROUP %s JOIN WITH (CLUSTER_TYPE = NONE);\n", ag)
	}
	fmt.Fprintf(&b, "ALTER AVAILABILITY GROUP %s GRANT CREATE ANY DATABASE;\n", ag)
	return b.String()
}

// installScript installs SQL Server and its command-line tools from
// Microsoft's repositories (Ubuntu, RHEL family; Microsoft publishes no
// Debian packages) when missing. The version is the release year (2022).
func (r *role) installScript() string {
	v := cmp.Or(r.s.Version, "2022")
	return fmt.Sprintf(`set -e
if test -x /opt/mssql/bin/sqlservr && test -x %[2]s; then exit 0; fi
if [ -n "${QUORUM_SHARED_HOST:-}" ]; then echo "SQL Server %[1]s (mssql-server and mssql-tools18) not installed, and this host shares its binaries (/usr) with other hosts (local datacenter): install it on the machine itself" >&2; exit 1; fi
. /etc/os-release
case " $ID $ID_LIKE " in
  *" ubuntu "*)
    export DEBIAN_FRONTEND=noninteractive ACCEPT_EULA=Y
    apt-get update -q && apt-get install -y -q --no-install-recommends curl gnupg ca-certificates
    key=$(mktemp); trap 'rm -f "$key"' EXIT
    curl -fsSL -o "$key" https://packages.microsoft.com/keys/microsoft.asc
    gpg --dearmor --yes -o /usr/share/keyrings/microsoft-prod.gpg "$key"
    curl -fsSL -o /etc/apt/sources.list.d/mssql-server-%[1]s.list "https://packages.microsoft.com/config/ubuntu/$VERSION_ID/mssql-server-%[1]s.list"
    curl -fsSL -o /etc/apt/sources.list.d/mssql-release.list "https://packages.microsoft.com/config/ubuntu/$VERSION_ID/prod.list"
    apt-get update -q && apt-get install -y -q mssql-server mssql-tools18 ;;
  *" rhel "*|*" fedora "*|*" centos "*)
    curl -fsSL -o /etc/yum.repos.d/mssql-server.repo "https://packages.microsoft.com/config/rhel/$(rpm -E %%rhel)/mssql-server-%[1]s.repo"
    curl -fsSL -o /etc/yum.repos.d/mssql-release.repo "https://packages.microsoft.com/config/rhel/$(rpm -E %%rhel)/prod.repo"
    ACCEPT_EULA=Y dnf install -y -q mssql-server mssql-tools18 ;;
  *) echo "cannot install SQL Server on $ID: Microsoft ships it for Ubuntu and RHEL; install mssql-server %[1]s and mssql-tools18, then retry" >&2; exit 1 ;;
esac`, v, sqlcmd)
}

// Apply installs the node: packages checked, mssql.conf and the secrets
// file written, setup run once, the service (re)started when its
// configuration changed, then the certificate, endpoint and availability
// group. The bootstrap member returns the certificate for the others; the
// others wait for it.
func (r *role) Apply(ctx context.Context, h host.Host) (map[string][]byte, error) {
	if !r.s.Bootstrap && (len(r.s.Shared[SharedCert]) == 0 || len(r.s.Shared[SharedKey]) == 0) {
		return nil, errors.New("waiting for the bootstrap member to publish the availability group certificate")
	}
	if _, err := h.Run(ctx, "install packages", r.installScript()); err != nil {
		return nil, err
	}
	if err := disk.Prepare(ctx, h, r.s.DataDisk, r.s.BaseDir); err != nil {
		return nil, err
	}
	if _, err := h.Run(ctx, "prepare directories", fmt.Sprintf("set -e; mkdir -p %[1]s %[2]s %[3]s; chown mssql:mssql %[1]s %[2]s %[3]s; chmod 700 %[1]s", host.Quote(r.s.BaseDir), host.Quote(r.dir("data")), host.Quote(r.dir("log")))); err != nil {
		return nil, err
	}
	if _, err := h.WriteFile(ctx, r.dir("mssql.env"), r.env(), 0o600, "root:root"); err != nil {
		return nil, err
	}
	if _, err := h.Run(ctx, "setup", fmt.Sprintf("test -f /var/opt/mssql/data/master.mdf || { set -a; . %s; set +a; %s -n setup accept-eula; }", host.Quote(r.dir("mssql.env")), mssqlConf)); err != nil {
		return nil, err
	}
	changed, err := h.WriteFile(ctx, confFile, r.Conf(), 0o644, "mssql:mssql")
	if err != nil {
		return nil, err
	}
	svc := "systemctl enable --now mssql-server"
	if changed {
		svc = "systemctl enable mssql-server && systemctl restart mssql-server"
	}
	if _, err := h.Run(ctx, "start mssql-server", svc); err != nil {
		return nil, err
	}
	if _, err := h.Run(ctx, "wait for sql server", r.waitCmd()); err != nil {
		return nil, err
	}
	if !r.s.Bootstrap {
		for file, key := range map[string]string{"ag.cer": SharedCert, "ag.pvk": SharedKey} {
			if _, err := h.WriteFile(ctx, r.dir(file), r.s.Shared[key], 0o600, "mssql:mssql"); err != nil {
				return nil, err
			}
		}
	}
	for _, s := range []struct{ name, file, sql string }{
		{"certificate and endpoint", "endpoint.sql", r.CertificateSQL()},
		{"availability group", "availability-group.sql", r.AvailabilityGroupSQL()},
	} {
		f := r.dir(s.file)
		if _, err := h.WriteFile(ctx, f, []byte(s.sql), 0o600, "root:root"); err != nil {
			return nil, err
		}
		if _, err := h.Run(ctx, s.name, r.sqlcmdRun(f)); err != nil {
			return nil, err
		}
	}
	if !r.s.Bootstrap {
		return nil, nil
	}
	if r.s.Restore != nil {
		if _, err := h.Run(ctx, "restore from backup", r.RestoreScript()); err != nil {
			return nil, err
		}
	}
	st, err := h.Run(ctx, "read certificate", fmt.Sprintf("base64 -w0 %s; echo; base64 -w0 %s", host.Quote(r.dir("ag.cer")), host.Quote(r.dir("ag.pvk"))))
	if err != nil {
		return nil, err
	}
	parts := strings.Fields(st.Stdout)
	if len(parts) != 2 {
		return nil, errors.New("cannot read back the availability group certificate")
	}
	cer, err1 := base64.StdEncoding.DecodeString(parts[0])
	key, err2 := base64.StdEncoding.DecodeString(parts[1])
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("cannot decode the availability group certificate: %w", err)
	}
	return map[string][]byte{SharedCert: cer, SharedKey: key}, nil
}

// waitCmd waits until SQL Server answers as sa.
func (r *role) waitCmd() string {
	return fmt.Sprintf("set -a; . %s; set +a; for i in $(seq 1 600); do %s -C -b -S 127.0.0.1,%d -U sa -Q 'SELECT 1' >/dev/null 2>&1 && exit 0; sleep 0.1; done; echo 'SQL Server does not answer on port %d; see /var/opt/mssql/log/errorlog' >&2; exit 1",
		host.Quote(r.dir("mssql.env")), sqlcmd, r.s.Port, r.s.Port)
}

// Restart restarts the service and waits until it answers.
func (r *role) Restart(ctx context.Context, h host.Host) error {
	if _, err := h.Run(ctx, "restart mssql-server", "systemctl restart mssql-server"); err != nil {
		return err
	}
	_, err := h.Run(ctx, "wait for sql server", r.waitCmd())
	return err
}

// Drifted compares mssql.conf and the secrets file and checks the service.
func (r *role) Drifted(ctx context.Context, h host.Host) (string, error) {
	check := ""
	if r.s.DataDisk != "" {
		check = disk.Check(r.s.DataDisk, r.s.BaseDir) + ";"
	}
	st, err := h.Run(ctx, "check drift", fmt.Sprintf("cat %s %s 2>/dev/null | sha256sum | cut -d' ' -f1; systemctl is-active --quiet mssql-server && echo mssql-up; %s true",
		confFile, host.Quote(r.dir("mssql.env")), check))
	if err != nil {
		return "", err
	}
	lines := strings.Fields(st.Stdout)
	if d := disk.Drift(r.s.DataDisk, lines); d != "" {
		return d, nil
	}
	switch {
	case len(lines) == 0 || lines[0] != r.ConfigSum():
		return "mssql.conf or the node's secrets file differs from the desired configuration", nil
	case !slices.Contains(lines, "mssql-up"):
		return "mssql-server is not running", nil
	}
	return "", nil
}

// Stop stops the service, keeping data.
func (r *role) Stop(ctx context.Context, h host.Host) error {
	_, err := h.Run(ctx, "stop services", "systemctl stop mssql-server")
	return err
}

// ReplicaStatesSQL reads the availability group's replicas as this node
// sees them, with the log not yet sent to each (KB).
const ReplicaStatesSQL = `SELECT ar.replica_server_name, ISNULL(ars.role_desc, N''), ISNULL(ars.synchronization_health_desc, N''), ars.is_local,
  ISNULL((SELECT SUM(drs.log_send_queue_size) FROM sys.dm_hadr_database_replica_states drs WHERE drs.replica_id = ar.replica_id), 0)
FROM sys.availability_replicas ar
JOIN sys.availability_groups ag ON ag.group_id = ar.group_id
LEFT JOIN sys.dm_hadr_availability_replica_states ars ON ars.replica_id = ar.replica_id
WHERE ag.name = @p1`

// Observe reads the replica states from the node.
func (r *role) Observe(ctx context.Context) (node.Status, error) {
	db, err := r.dial(ctx, r.s.Address, r.s.Port, r.s.AdminPassword)
	if err != nil {
		return node.Status{}, err
	}
	defer db.Close() //nolint:errcheck // Read only.
	return observe(ctx, db, r.s.Cluster)
}

func observe(ctx context.Context, db *sql.DB, ag string) (node.Status, error) {
	rows, err := db.QueryContext(ctx, ReplicaStatesSQL, ag)
	if err != nil {
		return node.Status{}, fmt.Errorf("cannot read the availability group's replicas: %w", err)
	}
	defer rows.Close() //nolint:errcheck // Read only.
	var out node.Status
	for rows.Next() {
		var (
			name, roleDesc, health string
			local                  bool
			queueKB                int64
		)
		if err := rows.Scan(&name, &roleDesc, &health, &local, &queueKB); err != nil {
			return node.Status{}, fmt.Errorf("cannot read the availability group's replicas: %w", err)
		}
		m := node.MemberStatus{Name: name, Role: map[string]string{"PRIMARY": "primary", "SECONDARY": "replica"}[roleDesc], State: strings.ToLower(health), LagBytes: queueKB * 1024}
		if local {
			out.Role, out.State, out.LagBytes = m.Role, m.State, m.LagBytes
			out.Healthy = health == "HEALTHY"
		}
		out.Members = append(out.Members, m)
	}
	if err := rows.Err(); err != nil {
		return node.Status{}, err
	}
	if len(out.Members) == 0 {
		return node.Status{State: "not in an availability group"}, nil
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].Name < out.Members[j].Name })
	return out, nil
}

// Switchover statements (CLUSTER_TYPE = NONE has no automatic or planned
// failover command: the documented manual sequence is to make the target
// synchronous, wait until it is synchronized, demote the primary, then force
// the target; with the target synchronized no committed transaction is lost).
func switchoverSQL(ag, target string) (onPrimary, demote, onTarget string) {
	q := QuoteName(ag)
	return fmt.Sprintf("ALTER AVAILABILITY GROUP %s MODIFY REPLICA ON %s WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)", q, literal(target)),
		fmt.Sprintf("ALTER AVAILABILITY GROUP %s SET (ROLE = SECONDARY)", q),
		fmt.Sprintf("ALTER AVAILABILITY GROUP %s FORCE_FAILOVER_ALLOW_DATA_LOSS", q)
}

// SynchronizedSQL counts the target's databases not yet synchronized.
const SynchronizedSQL = `SELECT COUNT(*) FROM sys.dm_hadr_database_replica_states drs
JOIN sys.availability_replicas ar ON ar.replica_id = drs.replica_id
WHERE ar.replica_server_name = @p1 AND drs.synchronization_state_desc <> N'SYNCHRONIZED'`

// Switchover hands the primary role to the named member.
func (r *role) Switchover(ctx context.Context, to string) error {
	addr := ""
	for _, m := range r.s.Members {
		if m.Name == to {
			addr = m.Address
		}
	}
	if addr == "" {
		return fmt.Errorf("spec.forProvider.switchoverTo %q is not a member", to)
	}
	primary, err := r.dial(ctx, r.s.Address, r.s.Port, r.s.AdminPassword)
	if err != nil {
		return err
	}
	defer primary.Close() //nolint:errcheck // Closing.
	target, err := r.dial(ctx, addr, r.s.Port, r.s.AdminPassword)
	if err != nil {
		return err
	}
	defer target.Close() //nolint:errcheck // Closing.
	return switchover(ctx, primary, target, r.s.Cluster, to, 100*time.Millisecond)
}

func switchover(ctx context.Context, primary, target *sql.DB, ag, to string, poll time.Duration) error {
	sync, demote, force := switchoverSQL(ag, to)
	if _, err := primary.ExecContext(ctx, sync); err != nil {
		return fmt.Errorf("cannot make %s synchronous: %w", to, err)
	}
	for i := 0; ; i++ {
		var n int
		if err := primary.QueryRowContext(ctx, SynchronizedSQL, to).Scan(&n); err != nil {
			return fmt.Errorf("cannot read %s's synchronization: %w", to, err)
		}
		if n == 0 {
			break
		}
		if i >= 300 {
			return fmt.Errorf("%s has %d databases not synchronized after 30s; the primary is unchanged", to, n)
		}
		time.Sleep(poll)
	}
	if _, err := primary.ExecContext(ctx, demote); err != nil {
		return fmt.Errorf("cannot demote the primary: %w", err)
	}
	if _, err := target.ExecContext(ctx, force); err != nil {
		return fmt.Errorf("cannot promote %s: %w", to, err)
	}
	return nil
}
