package sqlserver

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/internal/engine/host/hosttest"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// No SQL Server installs here: the node role is tested at the host boundary
// (files written, commands run, in order) and the T-SQL it sends.

const base = "/var/lib/quorum/team/sales/sales-0"

func nodeSpec(bootstrap bool) node.Spec {
	return node.Spec{
		Cluster: "sales", Name: "sales-0", Address: "10.0.0.20", Bootstrap: bootstrap, Replication: "sync",
		Members:   []node.Member{{Name: "sales-0", Address: "10.0.0.20"}, {Name: "sales-1", Address: "10.0.0.21"}},
		MemoryMiB: 8192, BaseDir: base, AdminPassword: "Sa'Secret1", ReplicationPassword: "CertSecret2",
	}
}

func TestApplyBootstrap(t *testing.T) {
	r, err := NewRole(nodeSpec(true))
	if err != nil {
		t.Fatal(err)
	}
	h := hosttest.New()
	h.Stdout["read certificate"] = base64.StdEncoding.EncodeToString([]byte("CER")) + "\n" + base64.StdEncoding.EncodeToString([]byte("PVK")) + "\n"
	shared, err := r.Apply(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"run install packages",
		"run prepare directories",
		"write " + base + "/mssql.env 600 root:root",
		"run setup",
		"write /var/opt/mssql/mssql.conf 644 mssql:mssql",
		"run start mssql-server",
		"run wait for sql server",
		"write " + base + "/endpoint.sql 600 root:root",
		"run certificate and endpoint",
		"write " + base + "/availability-group.sql 600 root:root",
		"run availability group",
		"run read certificate",
	}
	if diff := cmp.Diff(want, h.Log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]byte{SharedCert: []byte("CER"), SharedKey: []byte("PVK")}, shared); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	conf := "# Written by Quorum. Changes are reverted.\n[EULA]\naccepteula = Y\n\n[network]\ntcpport = 1433\n\n[memory]\nmemorylimitmb = 6553\n\n[hadr]\nhadrenabled = 1\n"
	if diff := cmp.Diff(conf, string(h.Files["/var/opt/mssql/mssql.conf"])); diff != "" {
		t.Errorf("mssql.conf (-want +got):\n%s", diff)
	}
	if got := string(h.Files[base+"/mssql.env"]); got != "ACCEPT_EULA=Y\nMSSQL_PID=Developer\nMSSQL_SA_PASSWORD='Sa'\"'\"'Secret1'\nSQLCMDPASSWORD='Sa'\"'\"'Secret1'\n" {
		t.Errorf("mssql.env: %q", got)
	}
	endpointSQL := `IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##')
  CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'CertSecret2';
IF CERT_ID(N'quorum_ag') IS NULL
  CREATE CERTIFICATE quorum_ag WITH SUBJECT = N'Quorum availability group sales', EXPIRY_DATE = '20361231';
BACKUP CERTIFICATE quorum_ag TO FILE = N'/var/lib/quorum/team/sales/sales-0/ag.cer' WITH PRIVATE KEY (FILE = N'/var/lib/quorum/team/sales/sales-0/ag.pvk', ENCRYPTION BY PASSWORD = N'CertSecret2');
IF NOT EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints WHERE name = N'quorum_hadr')
  CREATE ENDPOINT quorum_hadr AS TCP (LISTENER_PORT = 5022) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = CERTIFICATE quorum_ag, ENCRYPTION = REQUIRED ALGORITHM AES);
ALTER ENDPOINT quorum_hadr STATE = STARTED;
`
	if diff := cmp.Diff(endpointSQL, string(h.Files[base+"/endpoint.sql"])); diff != "" {
		t.Errorf("endpoint.sql (-want +got):\n%s", diff)
	}
	agSQL := `IF NOT EXISTS (SELECT 1 FROM sys.availability_groups WHERE name = N'sales')
  CREATE AVAILABILITY GROUP [sales] WITH (CLUSTER_TYPE = NONE, DB_FAILOVER = ON) FOR REPLICA ON
  N'sales-0' WITH (ENDPOINT_URL = N'tcp://10.0.0.20:5022', AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SECONDARY_ROLE (ALLOW_CONNECTIONS = ALL)),
  N'sales-1' WITH (ENDPOINT_URL = N'tcp://10.0.0.21:5022', AVAILABILITY_MODE = SYNCHRONOUS_COMMIT, FAILOVER_MODE = MANUAL, SEEDING_MODE = AUTOMATIC, SECONDARY_ROLE (ALLOW_CONNECTIONS = ALL));
ALTER AVAILABILITY GROUP [sales] GRANT CREATE ANY DATABASE;
`
	if diff := cmp.Diff(agSQL, string(h.Files[base+"/availability-group.sql"])); diff != "" {
		t.Errorf("availability-group.sql (-want +got):\n%s", diff)
	}
	if got, want := h.Commands["availability group"], "set -a; . '"+base+"/mssql.env'; set +a; /opt/mssql-tools18/bin/sqlcmd -C -b -S 127.0.0.1,1433 -U sa -i '"+base+"/availability-group.sql'"; got != want {
		t.Errorf("availability group command:\n got %s\nwant %s", got, want)
	}
	for _, secret := range []string{"Sa'Secret1", "CertSecret2"} {
		if h.InCommands(secret) {
			t.Error("a secret appears on a command line")
		}
	}
}

func TestApplySecondary(t *testing.T) {
	s := nodeSpec(false)
	s.Name, s.Address, s.BaseDir = "sales-1", "10.0.0.21", "/q/sales-1"
	r, _ := NewRole(s)
	h := hosttest.New()
	if _, err := r.Apply(context.Background(), h); err == nil || !strings.Contains(err.Error(), "waiting for the bootstrap member to publish the availability group certificate") {
		t.Fatalf("before the certificate is published: %v", err)
	}
	if len(h.Log) != 0 {
		t.Errorf("a secondary acted before the certificate was published: %v", h.Log)
	}
	s.Shared = map[string][]byte{SharedCert: []byte("CER"), SharedKey: []byte("PVK")}
	r, _ = NewRole(s)
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if string(h.Files["/q/sales-1/ag.cer"]) != "CER" || string(h.Files["/q/sales-1/ag.pvk"]) != "PVK" {
		t.Error("certificate files not written from the published values")
	}
	if got := string(h.Files["/q/sales-1/endpoint.sql"]); !strings.Contains(got, "CREATE CERTIFICATE quorum_ag FROM FILE = N'/q/sales-1/ag.cer' WITH PRIVATE KEY (FILE = N'/q/sales-1/ag.pvk', DECRYPTION BY PASSWORD = N'CertSecret2');") {
		t.Errorf("endpoint.sql:\n%s", got)
	}
	want := "IF NOT EXISTS (SELECT 1 FROM sys.availability_groups WHERE name = N'sales')\n  ALTER AVAILABILITY GROUP [sales] JOIN WITH (CLUSTER_TYPE = NONE);\nALTER AVAILABILITY GROUP [sales] GRANT CREATE ANY DATABASE;\n"
	if diff := cmp.Diff(want, string(h.Files["/q/sales-1/availability-group.sql"])); diff != "" {
		t.Errorf("join (-want +got):\n%s", diff)
	}
	if _, ok := h.Commands["read certificate"]; ok {
		t.Error("a secondary read back a certificate")
	}
}

func TestNodeDrifted(t *testing.T) {
	r, _ := NewRole(nodeSpec(true))
	for _, tc := range []struct{ name, stdout, want string }{
		{"in sync", r.ConfigSum() + "\nmssql-up\n", ""},
		{"changed", "00\nmssql-up\n", "mssql.conf or the node's secrets file differs from the desired configuration"},
		{"stopped", r.ConfigSum() + "\n", "mssql-server is not running"},
	} {
		h := hosttest.New()
		h.Stdout["check drift"] = tc.stdout
		if got, err := r.Drifted(context.Background(), h); got != tc.want || err != nil {
			t.Errorf("%s: got %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestRefusesUnknownParameter(t *testing.T) {
	s := nodeSpec(true)
	s.Parameters = map[string]string{"hadr.hadrenabled": "0"}
	if _, err := NewRole(s); err == nil || !strings.Contains(err.Error(), "spec.forProvider.parameters.hadr.hadrenabled is not an mssql-conf setting") {
		t.Errorf("got %v", err)
	}
}

func TestObserve(t *testing.T) {
	db, m, _ := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	m.ExpectQuery(ReplicaStatesSQL).WithArgs("sales").WillReturnRows(sqlmock.NewRows([]string{"n", "r", "h", "l", "q"}).
		AddRow("sales-1", "SECONDARY", "HEALTHY", false, int64(2)).
		AddRow("sales-0", "PRIMARY", "HEALTHY", true, int64(0)))
	got, err := observe(context.Background(), db, "sales")
	if err != nil {
		t.Fatal(err)
	}
	want := node.Status{Role: "primary", State: "healthy", Healthy: true, Members: []node.MemberStatus{
		{Name: "sales-0", Role: "primary", State: "healthy"},
		{Name: "sales-1", Role: "replica", State: "healthy", LagBytes: 2048},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := m.ExpectationsWereMet(); err != nil {
		t.Error(err)
	}
}

func TestSwitchoverSequence(t *testing.T) {
	pdb, pm, _ := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	tdb, tm, _ := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	pm.ExpectExec("ALTER AVAILABILITY GROUP [sales] MODIFY REPLICA ON N'sales-1' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)").WillReturnResult(sqlmock.NewResult(0, 0))
	pm.ExpectQuery(SynchronizedSQL).WithArgs("sales-1").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(1))
	pm.ExpectQuery(SynchronizedSQL).WithArgs("sales-1").WillReturnRows(sqlmock.NewRows([]string{"n"}).AddRow(0))
	pm.ExpectExec("ALTER AVAILABILITY GROUP [sales] SET (ROLE = SECONDARY)").WillReturnResult(sqlmock.NewResult(0, 0))
	tm.ExpectExec("ALTER AVAILABILITY GROUP [sales] FORCE_FAILOVER_ALLOW_DATA_LOSS").WillReturnResult(sqlmock.NewResult(0, 0))
	if err := switchover(context.Background(), pdb, tdb, "sales", "sales-1", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, m := range []sqlmock.Sqlmock{pm, tm} {
		if err := m.ExpectationsWereMet(); err != nil {
			t.Error(err)
		}
	}
}

func TestInstallScript(t *testing.T) {
	r, _ := NewRole(nodeSpec(true))
	got := r.(*role).installScript()
	for _, want := range []string{
		"if test -x /opt/mssql/bin/sqlservr && test -x /opt/mssql-tools18/bin/sqlcmd; then exit 0; fi",
		`https://packages.microsoft.com/config/ubuntu/$VERSION_ID/mssql-server-2022.list`,
		`https://packages.microsoft.com/config/rhel/$(rpm -E %rhel)/mssql-server-2022.repo`,
		"ACCEPT_EULA=Y dnf install -y -q mssql-server mssql-tools18",
		"Microsoft ships it for Ubuntu and RHEL",
		`if [ -n "${QUORUM_SHARED_HOST:-}" ]; then`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("install script lacks %q", want)
		}
	}
}

// TestApplyDataDisk: the data disk is prepared before anything is written
// under the node's directory, and user databases default to it.
func TestApplyDataDisk(t *testing.T) {
	s := nodeSpec(true)
	s.DataDisk = "/dev/disk/azure/scsi1/lun0"
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	h := hosttest.New()
	h.Stdout["read certificate"] = base64.StdEncoding.EncodeToString([]byte("CER")) + "\n" + base64.StdEncoding.EncodeToString([]byte("PVK")) + "\n"
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"run install packages", "run prepare data disk", "run prepare directories"}, h.Log[:3]); diff != "" {
		t.Errorf("first steps (-want +got):\n%s", diff)
	}
	if c := h.Commands["prepare data disk"]; !strings.Contains(c, "dev='/dev/disk/azure/scsi1/lun0'") || !strings.Contains(c, "mnt='"+base+"'") {
		t.Errorf("data disk step does not prepare the LUN at the node's directory:\n%s", c)
	}
	if conf := string(h.Files["/var/opt/mssql/mssql.conf"]); !strings.Contains(conf, "[filelocation]\ndefaultdatadir = "+base+"/data\ndefaultlogdir = "+base+"/log\n") {
		t.Errorf("mssql.conf does not put user databases on the data disk:\n%s", conf)
	}
	h.Fail["prepare data disk"] = errDiskRefused
	h.Log = nil
	if _, err := r.Apply(context.Background(), h); err == nil {
		t.Error("Apply went on after the data disk was refused")
	}
	if diff := cmp.Diff([]string{"run install packages", "run prepare data disk"}, h.Log); diff != "" {
		t.Errorf("steps after a refused disk (-want +got):\n%s", diff)
	}
}

var errDiskRefused = errors.New("data disk holds data but no filesystem: refusing to format it")
