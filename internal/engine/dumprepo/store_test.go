package dumprepo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quorumdb/quorum/internal/engine/host/hosttest"
	"github.com/quorumdb/quorum/internal/objectstore/objectstoretest"
)

// storeFor serves a real object store over TLS and returns a Store for a
// repository in it, with its credentials in a curl configuration file.
func storeFor(t *testing.T, dir, secret string) *Store {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required under CI")
		}
		t.Skip("curl is missing")
	}
	srv := objectstoretest.Serve(t, dir, "127.0.0.1")
	caFile, rc := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "curlrc")
	_ = os.WriteFile(caFile, srv.CA, 0o600)
	_ = os.WriteFile(rc, []byte(`user = "`+srv.Key.ID+`:`+secret+`"`+"\n"), 0o600)
	return &Store{Endpoint: srv.Endpoint, Bucket: objectstoretest.Bucket, Prefix: "mongo/team-a/orders", Region: "us-east-1", Curlrc: rc, CA: caFile}
}

// TestStoreRepository runs the wrapper for real with sh and curl against
// the object store: a set is uploaded (manifest last) and dropped locally,
// listed from the store, a failed dump is an error set, retention deletes
// old sets in the store, the newest successful set is found and fetched
// back, and wrong credentials are an error, never an empty repository.
func TestStoreRepository(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := Repo{Dir: filepath.Join(dir, "sets"), RunDir: filepath.Join(dir, "run"), Keep: 1, Store: storeFor(t, dir, "store-secret-for-tests-0123456789")}
	h := &hosttest.Local{}
	day := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

	if err := Start(ctx, h, r, Label(day, "full"), "full", "uid-1/1", `echo first > "$SET/dump.archive"`); err != nil {
		t.Fatal(err)
	}
	info := waitIdle(t, h, r)
	if len(info.Sets) != 1 || info.Sets[0].Label != "20261122-020000F" || info.Sets[0].Error || info.Sets[0].Annotation != "uid-1/1" {
		t.Fatalf("after the first backup: %+v", info)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "20261122-020000F")); !os.IsNotExist(err) {
		t.Errorf("the uploaded set is still on the node: %v", err)
	}
	if err := Start(ctx, h, r, Label(day.Add(time.Hour), "full"), "full", "uid-1/2", `echo failed; exit 3`); err != nil {
		t.Fatal(err)
	}
	if info := waitIdle(t, h, r); len(info.Sets) != 2 || !info.Sets[1].Error {
		t.Fatalf("a failed dump is an error set: %+v", info)
	}
	if err := Start(ctx, h, r, Label(day.Add(2*time.Hour), "full"), "full", "uid-1/3", `echo third > "$SET/dump.archive"`); err != nil {
		t.Fatal(err)
	}
	info = waitIdle(t, h, r)
	if len(info.Sets) != 1 || info.Sets[0].Label != "20261122-040000F" {
		t.Fatalf("retention keeps the newest full set only: %+v", info)
	}
	st, err := h.Run(ctx, "newest", "echo "+r.Newest())
	if err != nil || strings.TrimSpace(st.Stdout) != "20261122-040000F" {
		t.Fatalf("newest set: %q %v", st.Stdout, err)
	}
	if _, err := h.Run(ctx, "fetch", r.Fetch("20261122-040000F")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(r.Dir, "20261122-040000F", "dump.archive")); string(b) != "third\n" {
		t.Errorf("fetched dump %q", b)
	}
	bad := r
	bad.Store = storeFor(t, t.TempDir(), "wrong-secret")
	if _, err := Read(ctx, h, bad); err == nil {
		t.Error("wrong credentials read as a repository")
	}
}
