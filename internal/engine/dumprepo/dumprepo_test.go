package dumprepo

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

// waitIdle waits for the running backup to finish and returns the
// repository.
func waitIdle(t *testing.T, h *hosttest.Local, r Repo) node.RepoInfo {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		info, err := Read(context.Background(), h, r)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Running {
			return info
		}
	}
	t.Fatal("backup still running after 10s")
	return node.RepoInfo{}
}

// TestRepository runs the wrapper for real with sh: a backup runs in the
// background and a second one is refused meanwhile; its manifest records
// the outcome (a failed tool is an error set, not a missing one); sets are
// listed oldest first; retention keeps the newest full sets and what
// depends on them; Latest names the newest successful set.
func TestRepository(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := Repo{Dir: filepath.Join(dir, "repo"), RunDir: filepath.Join(dir, "run"), Keep: 2}
	h := &hosttest.Local{}
	day := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

	if err := Start(ctx, h, r, Label(day, "full"), "full", "uid-1/1", `echo data > "$SET/dump"; sleep 0.5`); err != nil {
		t.Fatal(err)
	}
	if info, err := Read(ctx, h, r); err != nil || !info.Running {
		t.Fatalf("while the dump runs: %+v %v", info, err)
	}
	if err := Start(ctx, h, r, Label(day.Add(time.Hour), "full"), "full", "uid-1/2", "true"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second backup while one runs: %v", err)
	}
	info := waitIdle(t, h, r)
	if len(info.Sets) != 1 || info.Sets[0].Label != "20261122-020000F" || info.Sets[0].Error || info.Sets[0].SizeBytes == 0 || info.Sets[0].Annotation != "uid-1/1" {
		t.Fatalf("after the first backup: %+v", info)
	}

	// A failing tool leaves an error set.
	if err := Start(ctx, h, r, Label(day.Add(time.Hour), "diff"), "diff", "uid-2", `echo "disk full" >&2; exit 3`); err != nil {
		t.Fatal(err)
	}
	info = waitIdle(t, h, r)
	if got := info.Sets[len(info.Sets)-1]; got.Label != "20261122-030000D" || !got.Error {
		t.Errorf("failed dump: %+v", got)
	}
	if log, _ := os.ReadFile(filepath.Join(r.Dir, "20261122-030000D", "backup.log")); !strings.Contains(string(log), "disk full") {
		t.Errorf("the tool's output is not kept in backup.log: %q", log)
	}

	// Two more fulls: the first full and the diff built on it go.
	for i, d := range []time.Duration{24 * time.Hour, 48 * time.Hour} {
		if err := Start(ctx, h, r, Label(day.Add(d), "full"), "full", "uid-1/"+string(rune('3'+i)), `echo data > "$SET/dump"`); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, h, r)
	}
	info = waitIdle(t, h, r)
	var labels []string
	for _, s := range info.Sets {
		labels = append(labels, s.Label)
	}
	if diff := cmp.Diff([]string{"20261123-020000F", "20261124-020000F"}, labels); diff != "" {
		t.Errorf("after retention (keep 2): -want +got:\n%s", diff)
	}
	st, err := h.Run(ctx, "latest", "echo "+Latest(r.Dir))
	if err != nil || strings.TrimSpace(st.Stdout) != "20261124-020000F" {
		t.Errorf("Latest: %q %v", st.Stdout, err)
	}

	if _, err := r.Script("x", "weekly", "a", "true"); err == nil {
		t.Error("an unknown type was accepted")
	}
	if _, err := r.Script("x", "full", "a'; rm -rf /", "true"); err == nil {
		t.Error("an annotation with shell characters was accepted")
	}
}
