package mongodb

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quorumdb/quorum/internal/engine/dumprepo"
	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// Backups are mongodump archives of the whole replica set, taken on the
// primary with its oplog (--oplog: consistent as of the dump's end),
// gzip-compressed, one set per directory of the repository: an
// S3-compatible bucket every member reaches (the set is uploaded with curl,
// signed with the node's key from a root-only file, then dropped from the
// node), or a filesystem repository (a share mounted on every member). A
// new replica set formed from one replays it with mongorestore
// --oplogReplay.

// checkRepo refuses repositories mongodump's sets cannot go to.
func checkRepo(field string, r *node.BackupRepo) error {
	switch r.Type {
	case "filesystem", "", "s3":
		return nil
	}
	return fmt.Errorf("%s.type %s: MongoDB backups go to an S3-compatible store (s3; for Google Cloud Storage its S3 endpoint) or a filesystem repository mounted on every member, not %s", field, r.Type, r.Type)
}

func (r *role) repo() (dumprepo.Repo, error) {
	b := r.s.Backup
	if b == nil {
		return dumprepo.Repo{}, fmt.Errorf("node %s has no backup repository (spec.forProvider.backup)", r.s.Name)
	}
	if err := checkRepo("spec.forProvider.backup", b); err != nil {
		return dumprepo.Repo{}, err
	}
	return r.dumpRepo(b, "backup", ""), nil
}

// dumpRepo is a repository as the node reaches it; prefix keeps a
// restore's files apart from the node's own.
func (r *role) dumpRepo(b *node.BackupRepo, runDir, prefix string) dumprepo.Repo {
	if b.Type != "s3" {
		return dumprepo.Repo{Dir: b.Path, RunDir: r.dir(runDir), Keep: b.RetentionFull}
	}
	st := &dumprepo.Store{Endpoint: b.Endpoint, Bucket: b.Bucket, Prefix: strings.Trim(b.Path, "/"), Region: cmp.Or(b.Region, "us-east-1"), Curlrc: r.dir(prefix + "s3.curlrc")}
	if b.Credentials["ca.crt"] != "" {
		st.CA = r.dir(prefix + "s3-ca.crt")
	}
	return dumprepo.Repo{Dir: r.dir(runDir, "sets"), RunDir: r.dir(runDir), Keep: b.RetentionFull, Store: st}
}

// writeStoreFiles writes the files a repository in a store is reached
// with: the curl configuration holding the key (root's alone) and its CA.
func (r *role) writeStoreFiles(ctx context.Context, h host.Host, b *node.BackupRepo, prefix string) error {
	if b == nil || b.Type != "s3" {
		return nil
	}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	rc := fmt.Sprintf("# Written by Quorum.\nuser = \"%s:%s\"\n", esc.Replace(b.Credentials["accessKeyID"]), esc.Replace(b.Credentials["secretAccessKey"]))
	if _, err := h.WriteFile(ctx, r.dir(prefix+"s3.curlrc"), []byte(rc), 0o600, "root:root"); err != nil {
		return err
	}
	if ca := b.Credentials["ca.crt"]; ca != "" {
		if _, err := h.WriteFile(ctx, r.dir(prefix+"s3-ca.crt"), []byte(ca), 0o644, "root:root"); err != nil {
			return err
		}
	}
	return nil
}

// toolConfig is the --config file of mongodump and mongorestore, so the
// password is never on a command line.
func (r *role) toolConfig() []byte {
	return []byte("# Written by Quorum.\npassword: " + strconv.Quote(r.s.AdminPassword) + "\n")
}

func (r *role) toolArgs() string {
	return fmt.Sprintf("--config=%s --host=127.0.0.1 --port=%d --username=%s --authenticationDatabase=%s", host.Quote(r.dir("tools.yaml")), r.s.Port, AdminUser, authDB)
}

func (r *role) writeToolConfig(ctx context.Context, h host.Host) error {
	_, err := h.WriteFile(ctx, r.dir("tools.yaml"), r.toolConfig(), 0o600, "root:root")
	return err
}

// DumpCommand is the command that takes one set into "$SET".
func (r *role) DumpCommand() string {
	return "mongodump " + r.toolArgs() + ` --oplog --gzip --archive="$SET/dump.archive"`
}

// StartBackup starts a full dump in the background.
func (r *role) StartBackup(ctx context.Context, h host.Host, typ, id string) error {
	if typ != "full" {
		return fmt.Errorf("spec.forProvider.type %s: MongoDB backups are full (mongodump of the replica set with its oplog); use full", typ)
	}
	repo, err := r.repo()
	if err != nil {
		return err
	}
	if err := r.writeToolConfig(ctx, h); err != nil {
		return err
	}
	if err := r.writeStoreFiles(ctx, h, r.s.Backup, ""); err != nil {
		return err
	}
	return dumprepo.Start(ctx, h, repo, dumprepo.Label(r.now(), typ), typ, id, r.DumpCommand())
}

// Backups reads the repository's manifests.
func (r *role) Backups(ctx context.Context, h host.Host) (node.RepoInfo, error) {
	repo, err := r.repo()
	if err != nil {
		return node.RepoInfo{}, err
	}
	return dumprepo.Read(ctx, h, repo)
}

// FinalBackup dumps the replica set one last time before the primary stops.
func (r *role) FinalBackup(ctx context.Context, h host.Host, id string) (bool, error) {
	return node.FinalBackup(ctx, r, h, id)
}

// RestoreScript replays the source's set (the named one, or the newest
// successful one) into the new replica set once: a marker file records that
// it ran. The admin and config databases are not restored: the new
// cluster's administrator and users are its own (the provider recreates the
// app's users).
func (r *role) RestoreScript() string {
	src := r.s.Restore
	repo := r.dumpRepo(&src.Repo, "restore", "restore-")
	label := src.Backup
	if label == "" {
		label = repo.Newest()
	}
	marker := r.dir("restored-from-" + src.Cluster)
	return fmt.Sprintf(`set -e
if [ -f %[1]s ]; then exit 0; fi
label=%[2]s
if [ -n "$label" ]; then ( %[6]s ) || true; fi
if [ -z "$label" ] || [ ! -f %[3]s/"$label"/dump.archive ]; then echo "no successful backup ${label:-at all} of %[4]s in its repository" >&2; exit 1; fi
mongorestore %[5]s --oplogReplay --gzip --drop --nsExclude='admin.*' --nsExclude='config.*' --archive=%[3]s/"$label"/dump.archive
touch %[1]s`, host.Quote(marker), dumprepoWord(label, src.Backup != ""), host.Quote(repo.Dir), src.Cluster, r.toolArgs(), repo.Fetch(`"$label"`))
}

// dumprepoWord quotes a named label; a computed one is already a shell
// expression.
func dumprepoWord(label string, named bool) string {
	if named {
		return host.Quote(label)
	}
	return label
}

func (r *role) now() time.Time {
	if r.clock != nil {
		return r.clock()
	}
	return time.Now()
}
