package postgresql

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/quorumdb/quorum/cluster/localdc"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/objectstore/objectstoretest"
)

// The test datacenter's object store: the repository every cluster of a
// test archives to, outside every guest (guests share no files), as the
// local platform's is. One per datacenter directory, on its gateway.
var (
	storesMu sync.Mutex
	stores   = map[string]objectstoretest.Store{}
)

// startStore serves an object store on the datacenter's gateway until the
// test ends.
func startStore(t testing.TB, base, gateway string) {
	t.Helper()
	s := objectstoretest.Serve(t, base, gateway)
	storesMu.Lock()
	stores[base] = s
	storesMu.Unlock()
}

// s3Repo is a repository at path in the object store of the test whose
// datacenter lives under base.
func s3Repo(base, path string) node.BackupRepo {
	storesMu.Lock()
	s := stores[base]
	storesMu.Unlock()
	return node.BackupRepo{Type: "s3", Bucket: objectstoretest.Bucket, Endpoint: s.Endpoint, Region: "us-east-1", Path: path, RetentionFull: 2, Credentials: s.Credentials()}
}

// guestFile reads a file as a guest's own processes see it (guests have
// their own /tmp, /var/lib and node directories).
func guestFile(dc *localdc.DC, guest, path string) string {
	pid, err := os.ReadFile(dc.PIDFile(guest))
	if err != nil {
		return ""
	}
	out, _ := exec.Command("nsenter", "-t", strings.TrimSpace(string(pid)), "-m", "--", "cat", path).Output()
	return string(out)
}
