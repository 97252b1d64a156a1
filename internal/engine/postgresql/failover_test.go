package postgresql

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// writer inserts increasing ids through a multi-host connection that follows
// the primary, and remembers every id whose commit was acknowledged.
type writer struct {
	mu     sync.Mutex
	acked  []int64
	killed time.Time // set by the test just before the kill
	failed bool      // a write failed after the kill
	// recovered is when the first write after that failure was acknowledged.
	recovered time.Time
	// ackedAt is when each acknowledged commit returned.
	ackedAt []time.Time
}

// maxGap is the longest time between two acknowledged commits, the writer's
// longest wait for a writable primary.
func (w *writer) maxGap() time.Duration { return w.maxGapSince(time.Time{}) }

// maxGapSince is maxGap over the commits acknowledged from since on (and
// the last one before it).
func (w *writer) maxGapSince(since time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var g time.Duration
	for i := 1; i < len(w.ackedAt); i++ {
		if w.ackedAt[i].After(since) {
			g = max(g, w.ackedAt[i].Sub(w.ackedAt[i-1]))
		}
	}
	return g
}

// waitAck waits for a commit acknowledged after t, so that a gap still
// open at t is measured.
func (w *writer) waitAck(t testing.TB, after time.Time) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		w.mu.Lock()
		n := len(w.ackedAt)
		ok := n > 0 && w.ackedAt[n-1].After(after)
		w.mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatal("no commit acknowledged within 30s")
}

func (w *writer) run(ctx context.Context, dsn string) {
	var conn *pgx.Conn
	for id := int64(1); ctx.Err() == nil; {
		if conn == nil {
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			conn = c
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := conn.Exec(cctx, "INSERT INTO w (id) VALUES ($1)", id)
		cancel()
		w.mu.Lock()
		if err != nil {
			if !w.killed.IsZero() {
				w.failed = true
			}
			_ = conn.Close(context.Background())
			conn = nil
		} else {
			w.acked = append(w.acked, id)
			w.ackedAt = append(w.ackedAt, time.Now())
			if w.failed && w.recovered.IsZero() {
				w.recovered = time.Now()
			}
		}
		w.mu.Unlock()
		// A failed commit may still have happened (the error can come after
		// the commit): never reuse its id. Only acknowledged ids are checked.
		id++
	}
	if conn != nil {
		_ = conn.Close(context.Background())
	}
}

// killPrimary kills -9 the primary guest's postgres and patroni processes.
func (tc *testCluster) killPrimary(t testing.TB, primary string) {
	t.Helper()
	for _, n := range tc.nodes {
		if n.Address != primary {
			continue
		}
		// ip netns pids fails when a process exits while it reads /proc.
		var out []byte
		var err error
		for range 5 {
			if out, err = exec.Command("ip", "netns", "pids", "qp-"+n.Name).CombinedOutput(); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("ip netns pids qp-%s: %v: %s", n.Name, err, out)
		}
		killed := 0
		for _, p := range strings.Fields(string(out)) {
			pid, _ := strconv.Atoi(p)
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmd), "patroni") || strings.Contains(string(cmd), "postgres") {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
			}
		}
		if killed == 0 {
			t.Fatalf("nothing killed on %s", n.Name)
		}
		return
	}
	t.Fatalf("no node at %s", primary)
}

// TestFailover kills -9 the primary's PostgreSQL and Patroni under a steady
// writer: a new primary accepts writes, and with synchronous replication no
// acknowledged commit is lost. The measured time is logged; the benchmark
// harness reports it over many kills (issue 9).
func TestFailover(t *testing.T) {
	tc := newCluster(t, "sync")
	primary := tc.waitHealthy(t, 90*time.Second)
	w, stop := tc.startWriter(t, primary)
	time.Sleep(2 * time.Second)
	w.mu.Lock()
	before := len(w.acked)
	w.mu.Unlock()
	if before == 0 {
		t.Fatal("the writer acknowledged nothing before the kill")
	}
	w.mu.Lock()
	w.killed = time.Now()
	killed := w.killed
	w.mu.Unlock()
	tc.killPrimary(t, primary)

	var recovered time.Duration
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		w.mu.Lock()
		r := w.recovered
		w.mu.Unlock()
		if !r.IsZero() {
			recovered = r.Sub(killed)
			break
		}
	}
	time.Sleep(time.Second)
	stop()
	if recovered == 0 {
		for _, n := range tc.nodes {
			t.Logf("%s patroni.out tail: %s", n.Name, tailStr(guestFile(tc.dc, n.Name, n.BaseDir+"/log/patroni.out"), 2500))
		}
		t.Fatal("no write was acknowledged within 60s of killing the primary")
	}

	lost, count := tc.lostCommits(t, w, primary)
	t.Logf("failover: first acknowledged write %.1fs after kill -9 of the primary; %d commits acknowledged, %d on the new primary, %d acknowledged commits lost",
		recovered.Seconds(), len(w.acked), count, lost)
	if lost != 0 || count < int64(len(w.acked)) {
		t.Errorf("synchronous replication lost %d acknowledged commits (have %d rows, %d acknowledged)", lost, count, len(w.acked))
	}
}

// lostCommits counts the writer's acknowledged ids missing on the current
// primary (other than notOn, the old one), and the rows it has.
func (tc *testCluster) lostCommits(t testing.TB, w *writer, notOn string) (lost int, count int64) {
	t.Helper()
	// The writer may still be running: only what was acknowledged before
	// the primary is read must be on it.
	w.mu.Lock()
	acked := slices.Clone(w.acked)
	w.mu.Unlock()
	var newPrimary string
	for deadline := time.Now().Add(30 * time.Second); newPrimary == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, n := range tc.nodes {
			if st, _, err := Observe(context.Background(), n.Address); err == nil && st.Role == "primary" && st.State == "running" && n.Address != notOn {
				newPrimary = n.Address
			}
		}
	}
	if newPrimary == "" {
		t.Fatal("no primary")
	}
	out, err := psql(newPrimary, "SELECT count(*) FROM w")
	if err != nil {
		t.Fatal(err)
	}
	count, _ = strconv.ParseInt(out, 10, 64)
	present := map[int64]bool{}
	ids, err := psql(newPrimary, "SELECT string_agg(id::text, ',') FROM w")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(ids, ",") {
		v, _ := strconv.ParseInt(f, 10, 64)
		present[v] = true
	}
	for _, id := range acked {
		if !present[id] {
			lost++
		}
	}
	return lost, count
}

// startWriter creates the writer's table and writes until the returned
// stop function is called.
func (tc *testCluster) startWriter(t testing.TB, primary string) (*writer, func()) {
	t.Helper()
	if _, err := psql(primary, "CREATE TABLE w (id bigint PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	hosts := []string{}
	for _, n := range tc.nodes {
		hosts = append(hosts, n.Address+":5432")
	}
	dsn := fmt.Sprintf("postgres://quorum_admin:%s@%s/postgres?target_session_attrs=read-write&connect_timeout=1", adminPassword, strings.Join(hosts, ","))
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{}
	done := make(chan struct{})
	go func() { w.run(ctx, dsn); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		w.mu.Lock()
		n := len(w.acked)
		w.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer acknowledged nothing in 10s")
		}
	}
	return w, func() { cancel(); <-done }
}
