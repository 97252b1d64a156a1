package sqlserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/internal/engine/host/hosttest"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// SQL Server does not run here: backups are tested at the command level,
// the exact T-SQL of a set pinned, and the shell around sqlcmd (background
// run, manifests, the restore's choice of set and databases, run once) run
// for real with sh and a stand-in sqlcmd that records the scripts it is
// given.

func backupRole(t *testing.T, repo *node.BackupRepo) *role {
	t.Helper()
	s := nodeSpec(true)
	s.Port = 1433
	s.Backup = repo
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	rr := r.(*role)
	rr.clock = func() time.Time { return time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC) }
	return rr
}

func TestBackupSQL(t *testing.T) {
	r := backupRole(t, &node.BackupRepo{Type: "filesystem", Path: "/srv/backup/team/sales"})
	got, err := r.BackupSQL("20261122-020000D", "diff", "uid-1/1795300000")
	if err != nil {
		t.Fatal(err)
	}
	want := `-- Written by Quorum: diff backup set 20261122-020000D of every user database.
SET NOCOUNT ON;
DECLARE @db sysname, @sql nvarchar(max);
DECLARE dbs CURSOR LOCAL FAST_FORWARD FOR
  SELECT name FROM sys.databases WHERE database_id > 4 AND state_desc = N'ONLINE' ORDER BY name;
OPEN dbs;
FETCH NEXT FROM dbs INTO @db;
WHILE @@FETCH_STATUS = 0
BEGIN
  SET @sql = N'BACKUP DATABASE ' + QUOTENAME(@db) + N' TO DISK = N''/srv/backup/team/sales/20261122-020000D/' + REPLACE(@db, N'''', N'''''') + N'.diff.bak'' WITH DIFFERENTIAL, FORMAT, INIT, COMPRESSION, CHECKSUM, NAME = N''20261122-020000D'', DESCRIPTION = N''quorum-backup=uid-1/1795300000''';
  PRINT @db;
  EXEC (@sql);
  FETCH NEXT FROM dbs INTO @db;
END
CLOSE dbs;
DEALLOCATE dbs;
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("differential set: -want +got:\n%s", diff)
	}

	// A quote in the repository's path survives both levels of quoting.
	r = backupRole(t, &node.BackupRepo{Type: "filesystem", Path: "/srv/it's"})
	got, _ = r.BackupSQL("20261122-020000F", "full", "a")
	if !strings.Contains(got, `TO DISK = N''/srv/it''''s/20261122-020000F/'`) {
		t.Errorf("path quoting:\n%s", got)
	}

	r = backupRole(t, &node.BackupRepo{Type: "s3", Path: "backup/team/sales", Bucket: "db-backups", Endpoint: "https://minio.example:9000",
		Credentials: map[string]string{"accessKeyID": "AKIA1", "secretAccessKey": "s3cr'et"}})
	got, _ = r.BackupSQL("20261122-020000I", "incr", "a")
	for _, s := range []string{
		"IF EXISTS (SELECT 1 FROM sys.credentials WHERE name = N's3://minio.example:9000/db-backups')\n  ALTER CREDENTIAL [s3://minio.example:9000/db-backups] WITH IDENTITY = N'S3 Access Key', SECRET = N'AKIA1:s3cr''et';",
		`N'BACKUP LOG ' + QUOTENAME(@db) + N' TO URL = N''s3://minio.example:9000/db-backups/backup/team/sales/20261122-020000I/' + REPLACE(@db, N'''', N'''''') + N'.trn'' WITH FORMAT`,
	} {
		if !strings.Contains(got, s) {
			t.Errorf("s3 log backup lacks\n%s\nin\n%s", s, got)
		}
	}
	if _, err := r.BackupSQL("x", "weekly", "a"); err == nil {
		t.Error("an unknown type was accepted")
	}
	if _, err := backupRole(t, &node.BackupRepo{Type: "gcs", Path: "p"}).repo(); err == nil || !strings.Contains(err.Error(), "S3-compatible endpoint") {
		t.Errorf("gcs: %v", err)
	}
}

// TestStartBackupSecrets: the set's script (which may hold the store's
// credential) is root's alone and removed after the run; no secret is on a
// command line.
func TestStartBackupSecrets(t *testing.T) {
	r := backupRole(t, &node.BackupRepo{Type: "azure", Path: "backup/team/sales", Bucket: "dbs", Credentials: map[string]string{"account": "acct", "sas": "sv=2024&sig=SAS-SECRET"}})
	h := hosttest.New()
	if err := r.StartBackup(context.Background(), h, "full", "uid-1"); err != nil {
		t.Fatal(err)
	}
	f := base + "/backup/backup-20261122-020000F.sql"
	if !strings.Contains(string(h.Files[f]), "SECRET = N'sv=2024&sig=SAS-SECRET'") || !strings.Contains(strings.Join(h.Log, "\n"), "write "+f+" 600 root:root") {
		t.Errorf("credential script: %v\n%s", h.Log, h.Files[f])
	}
	wrapper := string(h.Files[base+"/backup/backup.sh"])
	if !strings.Contains(wrapper, "-i '"+f+"'; rc=$?; rm -f '"+f+"'") || !strings.Contains(wrapper, "SET='"+base+"/backup/sets/20261122-020000F'") {
		t.Errorf("wrapper:\n%s", wrapper)
	}
	if h.InCommands("SAS-SECRET") || h.InCommands("Sa'Secret1") || strings.Contains(wrapper, "SAS-SECRET") {
		t.Error("a secret reached a command line")
	}
}

const sqlcmdStandIn = `#!/bin/sh
# Stand-in: records the script it is given with -i.
while [ $# -gt 0 ]; do [ "$1" = -i ] && { echo "-- $SQLCMDPASSWORD" >> "$TOOL_LOG"; cat "$2" >> "$TOOL_LOG"; }; shift; done
exit 0
`

// TestBackupAndRestoreCycle: a final backup finds its set by annotation;
// a new cluster restores every database of the newest successful full set
// and adds it to its availability group, once.
func TestBackupAndRestoreCycle(t *testing.T) {
	ctx := context.Background()
	bin, log := t.TempDir(), filepath.Join(t.TempDir(), "tools.log")
	if err := os.WriteFile(filepath.Join(bin, "sqlcmd"), []byte(sqlcmdStandIn), 0o755); err != nil { //nolint:gosec // An executable stand-in.
		t.Fatal(err)
	}
	defer func(old string) { sqlcmd = old }(sqlcmd)
	sqlcmd = filepath.Join(bin, "sqlcmd")
	h := &hosttest.Local{Env: []string{"TOOL_LOG=" + log}}

	repo := filepath.Join(t.TempDir(), "repo")
	src := backupRole(t, &node.BackupRepo{Type: "filesystem", Path: repo})
	src.s.BaseDir = t.TempDir()
	if _, err := h.WriteFile(ctx, src.dir("mssql.env"), src.env(), 0o600, ""); err != nil {
		t.Fatal(err)
	}
	done := false
	var err error
	for deadline := time.Now().Add(10 * time.Second); !done && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if done, err = src.FinalBackup(ctx, h, "final/uid-c"); err != nil {
			t.Fatal(err)
		}
	}
	if !done {
		t.Fatal("final backup not done after 10s")
	}
	b, _ := os.ReadFile(log) //nolint:gosec // Test file.
	if !strings.Contains(string(b), "-- Sa'Secret1\n-- Written by Quorum: full backup set 20261122-020000F") {
		t.Errorf("sqlcmd was not given the set's script with the password from the environment file:\n%s", b)
	}
	// What SQL Server would have written.
	for _, f := range []string{"shop.bak", "crm.bak", "crm.diff.bak"} {
		if err := os.WriteFile(filepath.Join(repo, "20261122-020000F", f), []byte("bak"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Remove(log)

	s := nodeSpec(true)
	s.Cluster, s.BaseDir, s.Port = "sales2", t.TempDir(), 1433
	s.Restore = &node.Restore{Cluster: "sales", Repo: node.BackupRepo{Type: "filesystem", Path: repo}}
	nr, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	n := nr.(*role)
	if _, err := h.WriteFile(ctx, n.dir("mssql.env"), n.env(), 0o600, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := h.Run(ctx, "restore from backup", n.RestoreScript()); err != nil {
			t.Fatal(err)
		}
	}
	b, _ = os.ReadFile(log) //nolint:gosec // Test file.
	set := repo + "/20261122-020000F"
	want := `-- Sa'Secret1
SET NOCOUNT ON;
IF DB_ID(N'crm') IS NULL RESTORE DATABASE [crm] FROM DISK = N'` + set + `/crm.bak' WITH RECOVERY, CHECKSUM;
ALTER DATABASE [crm] SET RECOVERY FULL;
IF NOT EXISTS (SELECT 1 FROM sys.availability_databases_cluster WHERE database_name = N'crm') ALTER AVAILABILITY GROUP [sales2] ADD DATABASE [crm];
IF DB_ID(N'shop') IS NULL RESTORE DATABASE [shop] FROM DISK = N'` + set + `/shop.bak' WITH RECOVERY, CHECKSUM;
ALTER DATABASE [shop] SET RECOVERY FULL;
IF NOT EXISTS (SELECT 1 FROM sys.availability_databases_cluster WHERE database_name = N'shop') ALTER AVAILABILITY GROUP [sales2] ADD DATABASE [shop];
`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("restore, run twice, sends once: -want +got:\n%s", diff)
	}
	if _, err := os.Stat(n.dir("restore.sql")); !os.IsNotExist(err) {
		t.Errorf("restore.sql left behind: %v", err)
	}

	s.Restore.Backup = "20261122-020000D"
	if _, err := NewRole(s); err == nil || !strings.Contains(err.Error(), "name a full backup") {
		t.Errorf("a differential label: %v", err)
	}
}

// TestApplyRestores: the bootstrap member restores once its availability
// group exists, before publishing the certificate.
func TestApplyRestores(t *testing.T) {
	s := nodeSpec(true)
	s.Restore = &node.Restore{Cluster: "old", Repo: node.BackupRepo{Type: "filesystem", Path: "/srv/backup/team/old"}}
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	h := hosttest.New()
	h.Stdout["read certificate"] = "Q0VS\nUFZL\n"
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.Log[len(h.Log)-3:], "|"); got != "run availability group|run restore from backup|run read certificate" {
		t.Errorf("restore step order: %s", got)
	}
}

func TestRestart(t *testing.T) {
	r, _ := NewRole(nodeSpec(false))
	h := hosttest.New()
	if err := r.(node.Restarter).Restart(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"run restart mssql-server", "run wait for sql server"}, h.Log); diff != "" || h.Commands["restart mssql-server"] != "systemctl restart mssql-server" {
		t.Errorf("restart steps: -want +got:\n%s", diff)
	}
}
