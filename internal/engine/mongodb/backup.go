package mongodb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/quorumdb/quorum/internal/engine/dumprepo"
	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// Backups are mongodump archives of the whole replica set, taken on the
// primary with its oplog (--oplog: consistent as of the dump's end),
// gzip-compressed, one set per directory of a filesystem repository (a
// share every member mounts). A new replica set formed from one replays it
// with mongorestore --oplogReplay.

// checkRepo refuses repositories mongodump cannot write to.
func checkRepo(field string, r *node.BackupRepo) error {
	if r.Type != "filesystem" && r.Type != "" {
		return fmt.Errorf("%s.type %s: MongoDB backups go to a filesystem repository (a share mounted on every member); mongodump does not write to %s", field, r.Type, r.Type)
	}
	return nil
}

func (r *role) repo() (dumprepo.Repo, error) {
	b := r.s.Backup
	if b == nil {
		return dumprepo.Repo{}, fmt.Errorf("node %s has no backup repository (spec.forProvider.backup)", r.s.Name)
	}
	if err := checkRepo("spec.forProvider.backup", b); err != nil {
		return dumprepo.Repo{}, err
	}
	return dumprepo.Repo{Dir: b.Path, RunDir: r.dir("backup"), Keep: b.RetentionFull}, nil
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
	label := dumprepo.SetToRestore(src.Repo.Path, src.Backup)
	marker := r.dir("restored-from-" + src.Cluster)
	return fmt.Sprintf(`set -e
if [ -f %[1]s ]; then exit 0; fi
label=%[2]s
if [ -z "$label" ] || [ ! -f %[3]s/"$label"/dump.archive ]; then echo "no successful backup ${label:-at all} of %[4]s in %[3]s" >&2; exit 1; fi
mongorestore %[5]s --oplogReplay --gzip --drop --nsExclude='admin.*' --nsExclude='config.*' --archive=%[3]s/"$label"/dump.archive
touch %[1]s`, host.Quote(marker), label, host.Quote(src.Repo.Path), src.Cluster, r.toolArgs())
}

func (r *role) now() time.Time {
	if r.clock != nil {
		return r.clock()
	}
	return time.Now()
}
