package sqlserver

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/quorumdb/quorum/internal/engine/dumprepo"
	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// Backups are SQL Server's own BACKUP DATABASE (full, differential) and
// BACKUP LOG (incr) of every user database, run on the primary by sqlcmd,
// compressed and checksummed, one set per label. A filesystem repository
// gets the files in the set's directory (TO DISK); Azure Blob and S3 (SQL
// Server 2022) get them under the set's label in the container or bucket
// (TO URL, with a credential), and the set's manifest stays on the node.
// The set's manifest (dumprepo) is the record the Backup controller reads.

func (r *role) repo() (dumprepo.Repo, error) {
	b := r.s.Backup
	if b == nil {
		return dumprepo.Repo{}, fmt.Errorf("node %s has no backup repository (spec.forProvider.backup)", r.s.Name)
	}
	switch b.Type {
	case "filesystem", "":
		return dumprepo.Repo{Dir: b.Path, RunDir: r.dir("backup"), Keep: b.RetentionFull}, nil
	case "azure", "s3":
		// Retention of objects is the store's lifecycle policy.
		return dumprepo.Repo{Dir: r.dir("backup", "sets"), RunDir: r.dir("backup")}, nil
	default:
		return dumprepo.Repo{}, fmt.Errorf("spec.forProvider.backup.type %s: SQL Server backs up to a filesystem, Azure Blob (azure) or S3 (s3) repository; for Google Cloud Storage use its S3-compatible endpoint as type s3", b.Type)
	}
}

// target is where one database's file of the set goes, and the credential
// statement it needs (empty for a disk).
func (r *role) target(label, db, ext string) (to string, credential string) {
	b := r.s.Backup
	file := db + "." + ext
	// Quotes in the path are doubled here; BackupSQL doubles the whole
	// again for the dynamic statement.
	dir := strings.ReplaceAll(path.Join(b.Path, label), "'", "''")
	switch b.Type {
	case "azure":
		base := fmt.Sprintf("https://%s.blob.core.windows.net/%s", b.Credentials["account"], b.Bucket)
		return "URL = N'" + base + "/" + dir + "/" + file + "'", base
	case "s3":
		base := fmt.Sprintf("s3://%s/%s", strings.TrimPrefix(strings.TrimPrefix(b.Endpoint, "https://"), "http://"), b.Bucket)
		return "URL = N'" + base + "/" + dir + "/" + file + "'", base
	}
	return "DISK = N'" + dir + "/" + file + "'", ""
}

// credentialSQL creates or refreshes the server credential a URL
// repository needs; its secret is in the script file (root's alone, removed
// after the run), never on a command line.
func (r *role) credentialSQL(base string) string {
	b := r.s.Backup
	identity, secret := "SHARED ACCESS SIGNATURE", b.Credentials["sas"]
	if b.Type == "s3" {
		identity, secret = "S3 Access Key", b.Credentials["accessKeyID"]+":"+b.Credentials["secretAccessKey"]
	}
	verb := fmt.Sprintf("IF EXISTS (SELECT 1 FROM sys.credentials WHERE name = %s)\n  ALTER CREDENTIAL %s WITH IDENTITY = %s, SECRET = %s;\nELSE\n  CREATE CREDENTIAL %s WITH IDENTITY = %s, SECRET = %s;\n",
		literal(base), QuoteName(base), literal(identity), literal(secret), QuoteName(base), literal(identity), literal(secret))
	return verb
}

// BackupSQL is the T-SQL of one set: every online user database in turn,
// named by the set's label and described by the annotation, so that
// msdb's history ties each file to its Backup.
func (r *role) BackupSQL(label, typ, annotation string) (string, error) {
	stmt, ext, with := "BACKUP DATABASE", "bak", "FORMAT, INIT, COMPRESSION, CHECKSUM"
	switch typ {
	case "full":
	case "diff":
		ext, with = "diff.bak", "DIFFERENTIAL, FORMAT, INIT, COMPRESSION, CHECKSUM"
	case "incr":
		stmt, ext = "BACKUP LOG", "trn"
	default:
		return "", fmt.Errorf("spec.forProvider.type %q: use full, diff or incr (a log backup)", typ)
	}
	// The database name is spliced in by the server (QUOTENAME, and a
	// doubled quote inside the file name); only constants of ours are
	// spliced here.
	to, base := r.target(label, "\x00", ext)
	before, after, _ := strings.Cut(to, "\x00")
	var b strings.Builder
	fmt.Fprintf(&b, "-- Written by Quorum: %s backup set %s of every user database.\nSET NOCOUNT ON;\n", typ, label)
	if base != "" {
		b.WriteString(r.credentialSQL(base))
	}
	fmt.Fprintf(&b, `DECLARE @db sysname, @sql nvarchar(max);
DECLARE dbs CURSOR LOCAL FAST_FORWARD FOR
  SELECT name FROM sys.databases WHERE database_id > 4 AND state_desc = N'ONLINE' ORDER BY name;
OPEN dbs;
FETCH NEXT FROM dbs INTO @db;
WHILE @@FETCH_STATUS = 0
BEGIN
  SET @sql = N'%s ' + QUOTENAME(@db) + N' TO %s' + REPLACE(@db, N'''', N'''''') + N'%s WITH %s, NAME = %s, DESCRIPTION = %s';
  PRINT @db;
  EXEC (@sql);
  FETCH NEXT FROM dbs INTO @db;
END
CLOSE dbs;
DEALLOCATE dbs;
`, stmt, strings.ReplaceAll(before, "'", "''"), strings.ReplaceAll(after, "'", "''"), with,
		strings.ReplaceAll(literal(label), "'", "''"), strings.ReplaceAll(literal("quorum-backup="+annotation), "'", "''"))
	return b.String(), nil
}

// StartBackup writes the set's T-SQL and runs it with sqlcmd in the
// background.
func (r *role) StartBackup(ctx context.Context, h host.Host, typ, id string) error {
	repo, err := r.repo()
	if err != nil {
		return err
	}
	label := dumprepo.Label(r.now(), typ)
	sql, err := r.BackupSQL(label, typ, id)
	if err != nil {
		return err
	}
	f := r.dir("backup", "backup-"+label+".sql")
	if _, err := h.Run(ctx, "prepare backup directories", fmt.Sprintf("mkdir -p %s && chmod 700 %s", host.Quote(r.dir("backup")), host.Quote(r.dir("backup")))); err != nil {
		return err
	}
	if _, err := h.WriteFile(ctx, f, []byte(sql), 0o600, "root:root"); err != nil {
		return err
	}
	// SQL Server writes the files itself: the set's directory is its. The
	// databases backed up and SQL Server's messages go to backup.log.
	dump := fmt.Sprintf(`chown mssql:mssql "$SET"; %s; rc=$?; rm -f %s; exit $rc`, r.sqlcmdRun(f), host.Quote(f))
	return dumprepo.Start(ctx, h, repo, label, typ, id, dump)
}

// Backups reads the sets' manifests.
func (r *role) Backups(ctx context.Context, h host.Host) (node.RepoInfo, error) {
	repo, err := r.repo()
	if err != nil {
		return node.RepoInfo{}, err
	}
	return dumprepo.Read(ctx, h, repo)
}

// FinalBackup backs every database up one last time before the primary
// stops.
func (r *role) FinalBackup(ctx context.Context, h host.Host, id string) (bool, error) {
	return node.FinalBackup(ctx, r, h, id)
}

// RestoreScript restores, once, every database of the source's full set
// (the named one or the newest successful one) from a filesystem
// repository on the bootstrap member, and adds each to the availability
// group, whose automatic seeding copies it to the other members.
func (r *role) RestoreScript() string {
	src := r.s.Restore
	label := dumprepo.SetToRestore(src.Repo.Path, src.Backup)
	marker := r.dir("restored-from-" + src.Cluster)
	sql := r.dir("restore.sql")
	return fmt.Sprintf(`set -e
if [ -f %[1]s ]; then exit 0; fi
label=%[2]s
dir=%[3]s/"$label"
if [ -z "$label" ] || ! ls "$dir"/*.bak >/dev/null 2>&1; then echo "no successful full backup ${label:-at all} of %[4]s in %[3]s" >&2; exit 1; fi
umask 077
{ echo 'SET NOCOUNT ON;'
  for f in "$dir"/*.bak; do
    db=$(basename "$f" .bak)
    case "$db" in *.diff|*[!A-Za-z0-9_-]*) continue ;; esac
    echo "IF DB_ID(N'$db') IS NULL RESTORE DATABASE [$db] FROM DISK = N'$f' WITH RECOVERY, CHECKSUM;"
    echo "ALTER DATABASE [$db] SET RECOVERY FULL;"
    echo "IF NOT EXISTS (SELECT 1 FROM sys.availability_databases_cluster WHERE database_name = N'$db') ALTER AVAILABILITY GROUP %[5]s ADD DATABASE [$db];"
  done; } > %[6]s
%[7]s; rc=$?; rm -f %[6]s; [ $rc = 0 ] || exit $rc
touch %[1]s`, host.Quote(marker), label, host.Quote(src.Repo.Path), src.Cluster, QuoteName(r.s.Cluster), host.Quote(sql), r.sqlcmdRun(sql))
}

func (r *role) now() time.Time {
	if r.clock != nil {
		return r.clock()
	}
	return time.Now()
}
