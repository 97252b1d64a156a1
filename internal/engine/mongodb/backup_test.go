package mongodb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/internal/engine/host/hosttest"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/objectstore/objectstoretest"
)

// mongodump and mongorestore are not installed here (MongoDB's tools are
// not in Debian): backups are tested at the command level. The exact tool
// command lines are pinned, and the surrounding mechanics (background run,
// manifests, choosing the set to restore, running a restore once) run for
// real with sh and stand-ins for the two tools that record their arguments.

const toolStandIn = `#!/bin/sh
# Stand-in: records its arguments; writes the archive it was asked for.
echo "$0 $*" >> "$TOOL_LOG"
for a in "$@"; do case "$a" in --archive=*) f="${a#--archive=}"; [ "$(basename "$0")" = mongodump ] && echo archive > "$f" ;; esac; done
exit 0
`

func standIns(t *testing.T) (*hosttest.Local, string) {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range []string{"mongodump", "mongorestore"} {
		if err := os.WriteFile(filepath.Join(bin, tool), []byte(toolStandIn), 0o755); err != nil { //nolint:gosec // An executable stand-in.
			t.Fatal(err)
		}
	}
	log := filepath.Join(t.TempDir(), "tools.log")
	return &hosttest.Local{Env: []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "TOOL_LOG=" + log}}, log
}

func TestBackupCommands(t *testing.T) {
	s := spec(true)
	s.Backup = &node.BackupRepo{Type: "filesystem", Path: "/srv/backup/team/orders", RetentionFull: 7}
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	h := hosttest.New()
	b := r.(node.Backuper)
	if err := b.StartBackup(context.Background(), h, "full", "uid-1"); err != nil {
		t.Fatal(err)
	}
	base := "/var/lib/quorum/team/orders/orders-0"
	if diff := cmp.Diff("# Written by Quorum.\npassword: \"AdminSecret123\"\n", string(h.Files[base+"/tools.yaml"])); diff != "" {
		t.Errorf("tools.yaml: -want +got:\n%s", diff)
	}
	if !strings.Contains(strings.Join(h.Log, "\n"), "write "+base+"/tools.yaml 600 root:root") {
		t.Errorf("tools.yaml is not root's alone: %v", h.Log)
	}
	script := string(h.Files[base+"/backup/backup.sh"])
	want := `( mongodump --config='` + base + `/tools.yaml' --host=127.0.0.1 --port=27017 --username=quorum_admin --authenticationDatabase=admin --oplog --gzip --archive="$SET/dump.archive" )`
	if !strings.Contains(script, want) || !strings.Contains(script, "SET='/srv/backup/team/orders/") {
		t.Errorf("backup script:\n%s\nwant it to run\n%s", script, want)
	}
	if h.InCommands("AdminSecret123") || strings.Contains(script, "AdminSecret123") {
		t.Error("the password reached a command line or script")
	}
	if err := b.StartBackup(context.Background(), h, "incr", "uid-2"); err == nil || !strings.Contains(err.Error(), "use full") {
		t.Errorf("incremental: %v", err)
	}

	// An S3-compatible store: the set is uploaded with curl, the key read
	// from a root-only file, never on a command line or in the script.
	s.Backup = &node.BackupRepo{Type: "s3", Endpoint: "10.77.0.1:9000", Bucket: "backups", Path: "/xdatabase/team/orders", RetentionFull: 7,
		Credentials: map[string]string{"accessKeyID": "AK", "secretAccessKey": `S"K\1`, "ca.crt": "CA"}}
	r, _ = NewRole(s)
	h = hosttest.New()
	if err := r.(node.Backuper).StartBackup(context.Background(), h, "full", "uid-3"); err != nil {
		t.Fatalf("s3 repository: %v", err)
	}
	if diff := cmp.Diff("# Written by Quorum.\nuser = \"AK:S\\\"K\\\\1\"\n", string(h.Files[base+"/s3.curlrc"])); diff != "" {
		t.Errorf("s3.curlrc: -want +got:\n%s", diff)
	}
	if !strings.Contains(strings.Join(h.Log, "\n"), "write "+base+"/s3.curlrc 600 root:root") {
		t.Errorf("s3.curlrc is not root's alone: %v", h.Log)
	}
	script = string(h.Files[base+"/backup/backup.sh"])
	for _, w := range []string{"S3URL='https://10.77.0.1:9000/backups'", "-K '" + base + "/s3.curlrc' --cacert '" + base + "/s3-ca.crt' --aws-sigv4 'aws:amz:us-east-1:s3'", `s3put "$f" "$S3URL/xdatabase/team/orders/`, "SET='" + base + "/backup/sets/"} {
		if !strings.Contains(script, w) {
			t.Errorf("backup script lacks %q:\n%s", w, script)
		}
	}
	if h.InCommands(`S"K`) || strings.Contains(script, `S"K`) {
		t.Error("the store's secret reached a command line or script")
	}
	s.Backup.Type = "azure"
	r, _ = NewRole(s)
	if err := r.(node.Backuper).StartBackup(context.Background(), h, "full", "uid-4"); err == nil || !strings.Contains(err.Error(), "MongoDB backups go to an S3-compatible store") {
		t.Errorf("azure repository: %v", err)
	}
	s.Backup = nil
	s.Restore = &node.Restore{Cluster: "old", Repo: node.BackupRepo{Type: "filesystem", Path: "/srv/backup/team/old"}, Target: time.Now()}
	if _, err := NewRole(s); err == nil || !strings.Contains(err.Error(), "pointInTime") {
		t.Errorf("a point in time for MongoDB: %v", err)
	}
}

// TestBackupAndRestoreCycle: a final backup is taken and found by its
// annotation; a new replica set restores the newest successful set with
// the oplog replayed, once.
func TestBackupAndRestoreCycle(t *testing.T) {
	ctx := context.Background()
	h, log := standIns(t)
	repo := filepath.Join(t.TempDir(), "repo", "old")
	s := spec(true)
	s.BaseDir = t.TempDir()
	s.Backup = &node.BackupRepo{Type: "filesystem", Path: repo}
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	fb := r.(node.FinalBackuper)
	done := false
	for deadline := time.Now().Add(10 * time.Second); !done && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if done, err = fb.FinalBackup(ctx, h, "final/uid-c"); err != nil {
			t.Fatal(err)
		}
	}
	if !done {
		t.Fatal("final backup not done after 10s")
	}
	info, err := r.(node.Backuper).Backups(ctx, h)
	if err != nil || len(info.Sets) != 1 || info.Sets[0].Annotation != "final/uid-c" || info.Sets[0].Error || info.Sets[0].Type != "full" {
		t.Fatalf("repository: %+v %v", info, err)
	}
	label := info.Sets[0].Label

	n := spec(true)
	n.Cluster, n.BaseDir = "new", t.TempDir()
	n.Restore = &node.Restore{Cluster: "old", Repo: node.BackupRepo{Type: "filesystem", Path: repo}}
	nr, err := NewRole(n)
	if err != nil {
		t.Fatal(err)
	}
	restore := nr.(*role).RestoreScript()
	for range 2 {
		if _, err := h.Run(ctx, "restore from backup", restore); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(log) //nolint:gosec // Test file.
	var restores []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.Contains(l, "mongorestore ") {
			restores = append(restores, l[strings.Index(l, "mongorestore ")+len("mongorestore "):])
		}
	}
	want := "--config=" + n.BaseDir + "/tools.yaml --host=127.0.0.1 --port=27017 --username=quorum_admin --authenticationDatabase=admin --oplogReplay --gzip --drop --nsExclude=admin.* --nsExclude=config.* --archive=" + repo + "/" + label + "/dump.archive"
	if diff := cmp.Diff([]string{want}, restores); diff != "" {
		t.Errorf("mongorestore runs (once): -want +got:\n%s", diff)
	}

	n.Restore.Backup = "20200101-000000F"
	n.BaseDir = t.TempDir()
	nr, _ = NewRole(n)
	if _, err := h.Run(ctx, "restore from backup", nr.(*role).RestoreScript()); err == nil || !strings.Contains(err.Error(), "no successful backup 20200101-000000F of old") {
		t.Errorf("restore of a missing set: %v", err)
	}
}

// TestApplyRestores: the bootstrap member restores once the replica set is
// formed (its administrator exists), and only then.
func TestApplyRestores(t *testing.T) {
	s := spec(true)
	s.Restore = &node.Restore{Cluster: "old", Repo: node.BackupRepo{Type: "filesystem", Path: "/srv/backup/team/old"}}
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	h := hosttest.New()
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	log := strings.Join(h.Log, "\n")
	if !strings.HasSuffix(log, "run form replica set\nwrite /var/lib/quorum/team/orders/orders-0/tools.yaml 600 root:root\nrun restore from backup") {
		t.Errorf("restore not after forming the replica set:\n%s", log)
	}
	s.Bootstrap = false
	r, _ = NewRole(s)
	h = hosttest.New()
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if h.Commands["restore from backup"] != "" {
		t.Error("a joining member restored")
	}
}

func TestRestart(t *testing.T) {
	r, _ := NewRole(spec(false))
	h := hosttest.New()
	if err := r.(node.Restarter).Restart(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"run stop mongod for a restart", "run start mongod", "run wait for mongod"}, h.Log); diff != "" {
		t.Errorf("restart steps: -want +got:\n%s", diff)
	}
}

// TestBackupAndRestoreThroughStore: the same cycle with the repository in
// a real object store, reached with curl: the final backup is uploaded and
// found there by its annotation, a new replica set on another node
// downloads the newest successful set and replays it, once.
func TestBackupAndRestoreThroughStore(t *testing.T) {
	ctx := context.Background()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required under CI")
		}
		t.Skip("curl is missing")
	}
	h, log := standIns(t)
	store := objectstoretest.Serve(t, t.TempDir(), "127.0.0.1")
	repo := node.BackupRepo{Type: "s3", Endpoint: store.Endpoint, Bucket: objectstoretest.Bucket, Path: "/xdatabase/team-a/old", Credentials: store.Credentials()}
	s := spec(true)
	s.BaseDir = t.TempDir()
	s.Backup = &repo
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	// As the node's Apply leaves them.
	if err := r.(*role).writeStoreFiles(ctx, h, s.Backup, ""); err != nil {
		t.Fatal(err)
	}
	done := false
	for deadline := time.Now().Add(20 * time.Second); !done && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if done, err = r.(node.FinalBackuper).FinalBackup(ctx, h, "final/uid-s"); err != nil {
			t.Fatal(err)
		}
	}
	if !done {
		t.Fatal("final backup not in the store after 20s")
	}
	info, err := r.(node.Backuper).Backups(ctx, h)
	if err != nil || len(info.Sets) != 1 || info.Sets[0].Annotation != "final/uid-s" || info.Sets[0].Error {
		t.Fatalf("store: %+v %v", info, err)
	}

	n := spec(true)
	n.Cluster, n.BaseDir = "new", t.TempDir()
	n.Restore = &node.Restore{Cluster: "old", Repo: repo}
	nr, err := NewRole(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := nr.(*role).writeStoreFiles(ctx, h, &n.Restore.Repo, "restore-"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := h.Run(ctx, "restore from backup", nr.(*role).RestoreScript()); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(log) //nolint:gosec // Test file.
	restores := strings.Count(string(b), "mongorestore ")
	archive := n.BaseDir + "/restore/sets/" + info.Sets[0].Label + "/dump.archive"
	if got, _ := os.ReadFile(archive); restores != 1 || string(got) != "archive\n" { //nolint:gosec // Test file.
		t.Errorf("mongorestore ran %d times; downloaded archive %q", restores, got)
	}
}
