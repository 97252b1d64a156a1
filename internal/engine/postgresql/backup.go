package postgresql

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// pgBackRest runs on every node with its own configuration file: WAL is
// archived by whichever node is primary, backups are taken on the primary,
// all into the cluster's one repository (the stanza is the cluster's name).

func (n Node) backupConf() string { return n.dir("pgbackrest.conf") }

// PgBackRestConfig renders pgbackrest.conf, or nil without a repository.
func (n Node) PgBackRestConfig() []byte {
	if n.Backup == nil {
		return nil
	}
	return n.pgBackRestConfig(n.Backup, n.Cluster, "", true)
}

// RestoreConfig renders the configuration a restore reads the source
// cluster's repository with, or nil when the node restores nothing. Its
// stanza is the source's, its pg1-path this node's data directory.
func (n Node) RestoreConfig() []byte {
	if n.Restore == nil {
		return nil
	}
	// Without repo1-path: the restore's repository is one of the source's
	// incarnations under its path, found before the cluster is formed and
	// written to restoreInclude (pgbackrest --config-include-path).
	return n.pgBackRestConfig(&n.Restore.Repo, n.Restore.Cluster, "restore-", false)
}

// restoreInclude holds repository.conf, the repo1-path of the incarnation
// a restore reads.
func (n Node) restoreInclude() string { return n.dir("pgbackrest-restore.d") }

// restoreArgs are the options every pgBackRest command of a restore takes.
func (n Node) restoreArgs() string {
	return "--config=" + n.restoreConf() + " --config-include-path=" + n.restoreInclude() + " --stanza=" + n.Restore.Cluster
}

func (n Node) restoreConf() string { return n.dir("pgbackrest-restore.conf") }

// repoFiles are the files a repository's configuration names (a GCS
// service account key, the CA of a private S3 endpoint), by path; prefix
// keeps a restore's apart from the node's own.
func (n Node) repoFiles(r *node.BackupRepo, prefix string) map[string][]byte {
	files := map[string][]byte{}
	if r.Type == "gcs" {
		files[n.dir(prefix+"gcs-key.json")] = []byte(r.Credentials["key.json"])
	}
	if ca := r.Credentials["ca.crt"]; ca != "" && r.Type == "s3" {
		files[n.dir(prefix+"s3-ca.crt")] = []byte(ca)
	}
	return files
}

func (n Node) pgBackRestConfig(r *node.BackupRepo, stanza, prefix string, withPath bool) []byte {
	var b strings.Builder
	b.WriteString("# Written by Quorum. Changes are reverted.\n[global]\n")
	switch r.Type {
	case "s3":
		// A private S3-compatible store (MinIO, Ceph, the local platform's)
		// is reached by its address and path-style URLs; Amazon S3 by its
		// regional endpoint and virtual-host URLs, pgBackRest's default.
		endpoint, port := "s3."+r.Region+".amazonaws.com", ""
		if r.Endpoint != "" {
			endpoint = r.Endpoint
			if h, p, err := net.SplitHostPort(r.Endpoint); err == nil {
				endpoint, port = h, p
			}
		}
		fmt.Fprintf(&b, "repo1-type=s3\nrepo1-s3-bucket=%s\nrepo1-s3-endpoint=%s\nrepo1-s3-region=%s\nrepo1-s3-key=%s\nrepo1-s3-key-secret=%s\n",
			r.Bucket, endpoint, r.Region, r.Credentials["accessKeyID"], r.Credentials["secretAccessKey"])
		if r.Endpoint != "" {
			b.WriteString("repo1-s3-uri-style=path\n")
		}
		if port != "" {
			fmt.Fprintf(&b, "repo1-storage-port=%s\n", port)
		}
		if r.Credentials["ca.crt"] != "" {
			fmt.Fprintf(&b, "repo1-storage-ca-file=%s\n", n.dir(prefix+"s3-ca.crt"))
		}
	case "azure":
		fmt.Fprintf(&b, "repo1-type=azure\nrepo1-azure-container=%s\nrepo1-azure-account=%s\nrepo1-azure-key=%s\n",
			r.Bucket, r.Credentials["account"], r.Credentials["key"])
	case "gcs":
		fmt.Fprintf(&b, "repo1-type=gcs\nrepo1-gcs-bucket=%s\nrepo1-gcs-key=%s\n", r.Bucket, n.dir(prefix+"gcs-key.json"))
	default:
		b.WriteString("repo1-type=posix\n")
	}
	if withPath {
		fmt.Fprintf(&b, "repo1-path=%s\n", r.Path)
	}
	switch {
	case r.RetentionDays > 0:
		// Days, as the XDatabase's retentionDays says: every full backup
		// younger than that is kept, with the WAL to restore it.
		fmt.Fprintf(&b, "repo1-retention-full-type=time\nrepo1-retention-full=%d\n", r.RetentionDays)
	case r.RetentionFull > 0:
		fmt.Fprintf(&b, "repo1-retention-full=%d\n", r.RetentionFull)
	}
	// Hosts may share /tmp and /var/log (the local datacenter): keep locks,
	// logs and the spool per node.
	fmt.Fprintf(&b, "lock-path=%s\nlog-path=%s\nspool-path=%s\nstart-fast=y\narchive-async=n\ncompress-type=lz4\n",
		n.dir("pgbackrest", "lock"), n.dir("log"), n.dir("pgbackrest", "spool"))
	fmt.Fprintf(&b, "\n[%s]\npg1-path=%s\npg1-port=%d\npg1-socket-path=%s\npg1-user=%s\n", stanza, n.dir("data"), n.Port, n.socketDir(), n.AdminUser)
	return []byte(b.String())
}

// restoreTime is a point in time as both pgBackRest and PostgreSQL read it.
func restoreTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999-07") }

// bootstrapMethod is the Patroni custom bootstrap that forms the cluster
// from the source's backup: pgBackRest restores the data directory (the
// set before the target when no set is named), then PostgreSQL replays the
// source's archived WAL up to the target and promotes itself. Patroni
// writes the recovery settings and removes them once recovery has ended,
// so nothing of the source's repository stays in the running
// configuration. Empty when the node restores nothing.
func (n Node) bootstrapMethod() string {
	r := n.Restore
	if r == nil {
		return ""
	}
	args := append([]string{"pgbackrest"}, strings.Fields(n.restoreArgs())...)
	recovery := map[string]string{
		"restore_command": fmt.Sprintf("pgbackrest %s archive-get %%f \"%%p\"", n.restoreArgs()),
	}
	if r.Backup != "" {
		args = append(args, "--set="+r.Backup)
	}
	switch {
	case !r.Target.IsZero():
		args = append(args, "--type=time", "--target="+restoreTime(r.Target))
		recovery["recovery_target_time"] = restoreTime(r.Target)
		recovery["recovery_target_action"] = "promote"
	case r.Backup != "":
		// A named set alone: stop as soon as it is consistent.
		args = append(args, "--type=immediate")
		recovery["recovery_target"] = "immediate"
		recovery["recovery_target_action"] = "promote"
	}
	args = append(args, "restore")
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = host.Quote(a)
	}
	return fmt.Sprintf("  method: pgbackrest\n  pgbackrest:\n    command: %s\n    no_params: true\n    recovery_conf:\n%s",
		strconv.Quote(strings.Join(quoted, " ")), yamlMap(recovery, "      "))
}

// backupDirs creates pgBackRest's per-node directories and, for a
// filesystem repository, the repository itself, all postgres'.
func (n Node) backupDirs() string {
	dirs := []string{host.Quote(n.dir("pgbackrest", "lock")), host.Quote(n.dir("pgbackrest", "spool"))}
	if n.Backup.Type == "filesystem" || n.Backup.Type == "" {
		dirs = append(dirs, host.Quote(n.Backup.Path))
	}
	return fmt.Sprintf("set -e; mkdir -p %s; chown postgres:postgres %s; chown -R postgres:postgres %s",
		strings.Join(dirs, " "), strings.Join(dirs, " "), host.Quote(n.dir("pgbackrest")))
}

// backupParameters are the PostgreSQL settings archiving needs.
func (n Node) backupParameters() map[string]string {
	if n.Backup == nil {
		return nil
	}
	return map[string]string{
		"archive_mode":    "on",
		"archive_command": fmt.Sprintf("pgbackrest --config=%s --stanza=%s archive-push %%p", n.backupConf(), n.Cluster),
		// A quiet database still closes a segment every minute, bounding
		// what a point-in-time restore can miss.
		"archive_timeout": "60",
	}
}

// asPostgres runs a command as the postgres OS user with a clean
// environment, as the database's own tools expect.
func asPostgres(cmd string) string {
	return "setpriv --reuid=postgres --regid=postgres --init-groups --reset-env " + cmd
}

func (n Node) pgbackrest(args string) string {
	return asPostgres(fmt.Sprintf("pgbackrest --config=%s --stanza=%s %s", host.Quote(n.backupConf()), n.Cluster, args))
}

// EnsureStanza creates the cluster's stanza from the primary (idempotent).
func EnsureStanza(ctx context.Context, h host.Host, n Node) error {
	if n.Backup == nil {
		return nil
	}
	_, err := h.Run(ctx, "create backup stanza", n.pgbackrest("stanza-create"))
	return err
}

// BackupAnnotation is the pgBackRest annotation key tying a backup set to
// the Backup resource that asked for it.
const BackupAnnotation = "quorum-backup"

// StartBackup starts a backup of the given type (full, diff, incr) in the
// background on the node, annotated with id. It returns at once: Backups
// reads the outcome.
func StartBackup(ctx context.Context, h host.Host, n Node, typ, id string) error {
	if n.Backup == nil {
		return fmt.Errorf("node %s has no backup repository", n.Name)
	}
	switch typ {
	case "full", "diff", "incr":
	default:
		return fmt.Errorf("spec.forProvider.type %q: use full, diff or incr", typ)
	}
	cmd := n.pgbackrest(fmt.Sprintf("--type=%s --annotation=%s=%s backup", typ, BackupAnnotation, host.Quote(id)))
	_, err := h.Run(ctx, "start "+typ+" backup", fmt.Sprintf("set -e; mkdir -p %s; chown postgres:postgres %s; nohup %s >> %s 2>&1 < /dev/null &",
		host.Quote(n.dir("pgbackrest")), host.Quote(n.dir("pgbackrest")), cmd, host.Quote(n.dir("log", "backup.out"))))
	return err
}

// BackupSet and RepoInfo are the engine-agnostic records.
type (
	BackupSet = node.BackupSet
	RepoInfo  = node.RepoInfo
)

// Backups reads the repository from the node.
func Backups(ctx context.Context, h host.Host, n Node) (RepoInfo, error) {
	if n.Backup == nil {
		return RepoInfo{}, fmt.Errorf("node %s has no backup repository", n.Name)
	}
	st, err := h.Run(ctx, "backup info", n.pgbackrest("--output=json info"))
	if err != nil {
		return RepoInfo{}, err
	}
	return ParseInfo([]byte(st.Stdout), n.Cluster)
}

// ParseInfo decodes `pgbackrest info --output=json` for one stanza.
func ParseInfo(out []byte, stanza string) (RepoInfo, error) {
	var stanzas []struct {
		Name   string `json:"name"`
		Status struct {
			Message string `json:"message"`
			Lock    struct {
				Backup struct {
					Held bool `json:"held"`
				} `json:"backup"`
			} `json:"lock"`
		} `json:"status"`
		Backup []struct {
			Label     string `json:"label"`
			Type      string `json:"type"`
			Error     bool   `json:"error"`
			Timestamp struct {
				Start int64 `json:"start"`
				Stop  int64 `json:"stop"`
			} `json:"timestamp"`
			Info struct {
				Size int64 `json:"size"`
			} `json:"info"`
			Archive struct {
				Start string `json:"start"`
				Stop  string `json:"stop"`
			} `json:"archive"`
			LSN struct {
				Start string `json:"start"`
				Stop  string `json:"stop"`
			} `json:"lsn"`
			Annotation map[string]string `json:"annotation"`
		} `json:"backup"`
	}
	if err := json.Unmarshal(out, &stanzas); err != nil {
		return RepoInfo{}, fmt.Errorf("cannot decode pgbackrest info: %w", err)
	}
	for _, s := range stanzas {
		if s.Name != stanza {
			continue
		}
		ri := RepoInfo{Running: s.Status.Lock.Backup.Held, Status: s.Status.Message}
		for _, b := range s.Backup {
			ri.Sets = append(ri.Sets, BackupSet{
				Label: b.Label, Type: b.Type, Error: b.Error,
				Started: time.Unix(b.Timestamp.Start, 0).UTC(), Finished: time.Unix(b.Timestamp.Stop, 0).UTC(),
				SizeBytes: b.Info.Size, WALStart: b.Archive.Start, WALStop: b.Archive.Stop, LSNStart: b.LSN.Start, LSNStop: b.LSN.Stop,
				Annotation: b.Annotation[BackupAnnotation],
			})
		}
		sort.Slice(ri.Sets, func(i, j int) bool { return ri.Sets[i].Started.Before(ri.Sets[j].Started) })
		return ri, nil
	}
	return RepoInfo{Status: "missing stanza"}, nil
}

// ExpireBackup removes one backup set (and the sets that depend on it).
func ExpireBackup(ctx context.Context, h host.Host, n Node, label string) error {
	_, err := h.Run(ctx, "expire backup "+label, n.pgbackrest("--set="+host.Quote(label)+" expire"))
	return err
}

// resolveRestoreSource finds, before a cluster is formed from it, which of
// the source's repositories the restore reads: the source's path holds one
// repository per incarnation of a database of that name (or, written
// before incarnations, the repository itself). It takes the one holding
// the named set, else the one with the newest set finished by the point in
// time, else the one with the newest set, writes its path to
// restoreInclude, and says why a restore that cannot be served cannot be,
// naming the field, instead of Patroni's bootstrap failing over and over.
func resolveRestoreSource(ctx context.Context, h host.Host, n Node) error {
	r := n.Restore
	formed, err := h.Run(ctx, "check restore source", fmt.Sprintf("test -f %s && echo formed; true", host.Quote(n.dir("data", "PG_VERSION"))))
	if err != nil {
		return err
	}
	if strings.TrimSpace(formed.Stdout) == "formed" {
		return nil
	}
	base := "pgbackrest --config=" + host.Quote(n.restoreConf())
	ls, err := h.Run(ctx, "list restore source", asPostgres(base+" --repo1-path="+host.Quote(r.Repo.Path)+" --output=json repo-ls"))
	if err != nil {
		return fmt.Errorf("spec.forProvider.restoreFrom.repository: cannot list the backups of %s: %w", r.Cluster, err)
	}
	candidates, err := Incarnations(r.Repo.Path, []byte(ls.Stdout))
	if err != nil {
		return fmt.Errorf("spec.forProvider.restoreFrom.repository: cannot read the listing of %s: %w", r.Repo.Path, err)
	}
	infos := map[string]RepoInfo{}
	for _, c := range candidates {
		st, err := h.Run(ctx, "read restore source", asPostgres(base+" --repo1-path="+host.Quote(c)+" --stanza="+r.Cluster+" --output=json info"))
		if err != nil {
			return fmt.Errorf("spec.forProvider.restoreFrom.repository: cannot read the backups of %s in %s: %w", r.Cluster, c, err)
		}
		if infos[c], err = ParseInfo([]byte(st.Stdout), r.Cluster); err != nil {
			return fmt.Errorf("spec.forProvider.restoreFrom.repository: %w", err)
		}
	}
	chosen := ChooseIncarnation(infos, *r)
	if chosen == "" {
		// Say why with every set of every incarnation in view.
		all := RepoInfo{}
		for _, c := range candidates {
			all.Sets = append(all.Sets, infos[c].Sets...)
			all.Status = cmp.Or(all.Status, infos[c].Status)
		}
		sort.Slice(all.Sets, func(i, j int) bool { return all.Sets[i].Finished.Before(all.Sets[j].Finished) })
		if err := RestorableFrom(all, *r, time.Now()); err != nil {
			return err
		}
		return fmt.Errorf("spec.forProvider.restoreFrom: no repository of %s under %s can serve this restore", r.Cluster, r.Repo.Path)
	}
	if err := RestorableFrom(infos[chosen], *r, time.Now()); err != nil {
		return err
	}
	_, err = h.Run(ctx, "choose restore source", fmt.Sprintf("set -e; mkdir -p %[1]s; printf '[global]\\nrepo1-path=%%s\\n' %[2]s > %[1]s/repository.conf; chown -R postgres:postgres %[1]s",
		host.Quote(n.restoreInclude()), host.Quote(chosen)))
	return err
}

// Incarnations reads `pgbackrest repo-ls --output=json` of a source's path:
// the repositories under it, one per incarnation, and the path itself when
// a repository written before incarnations lies there (its archive and
// backup directories).
func Incarnations(base string, listing []byte) ([]string, error) {
	var entries map[string]struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(listing, &entries); err != nil {
		return nil, err
	}
	var out []string
	for name, e := range entries {
		switch {
		case e.Type != "path" || name == "." || name == "archive":
		case name == "backup":
			out = append(out, base)
		default:
			out = append(out, path.Join(base, name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// ChooseIncarnation picks the repository a restore reads among the
// source's incarnations (their paths and contents): the one holding the
// named set; else the one whose newest successful set finished last
// (by the point in time, when there is one). "" when none fits.
func ChooseIncarnation(infos map[string]RepoInfo, r node.Restore) string {
	best, bestAt := "", time.Time{}
	for p, info := range infos {
		for _, s := range info.Sets {
			if s.Error || s.Finished.IsZero() {
				continue
			}
			if r.Backup != "" {
				if s.Label == r.Backup {
					return p
				}
				continue
			}
			if !r.Target.IsZero() && s.Finished.After(r.Target) {
				continue
			}
			if best == "" || s.Finished.After(bestAt) {
				best, bestAt = p, s.Finished
			}
		}
	}
	return best
}

// RestorableFrom says why a restore cannot be served from a repository
// holding info, naming the field to change, or nil.
func RestorableFrom(info RepoInfo, r node.Restore, now time.Time) error {
	var sets []BackupSet
	for _, s := range info.Sets {
		if !s.Error && !s.Finished.IsZero() {
			sets = append(sets, s)
		}
	}
	if len(sets) == 0 {
		return fmt.Errorf("spec.forProvider.restoreFrom.cluster: %s has no finished backup in its repository (%s): back it up first, or restore from another database", r.Cluster, cmp.Or(info.Status, "empty"))
	}
	if r.Backup != "" {
		found := false
		labels := make([]string, len(sets))
		for i, s := range sets {
			labels[i] = s.Label
			found = found || s.Label == r.Backup
		}
		if !found {
			return fmt.Errorf("spec.forProvider.restoreFrom.backup: %s is not a finished backup of %s: use one of %s", r.Backup, r.Cluster, strings.Join(labels, ", "))
		}
	}
	if !r.Target.IsZero() {
		if r.Target.After(now) {
			return fmt.Errorf("spec.forProvider.restoreFrom.pointInTime: %s is in the future: give a time that has passed", r.Target.UTC().Format(time.RFC3339))
		}
		if first := sets[0].Finished; r.Target.Before(first) {
			return fmt.Errorf("spec.forProvider.restoreFrom.pointInTime: %s is before the first backup of %s ended (%s): give a later time", r.Target.UTC().Format(time.RFC3339), r.Cluster, first.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
