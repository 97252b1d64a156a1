package postgresql

import (
	"context"
	"testing"
	"time"

	"github.com/quorumdb/quorum/internal/sshexec"
)

// TestDayTwoUnderWriter runs the day-2 operations of a synchronous cluster
// under a steady writer, as the provider drives them: a switchover
// requested through the API, then a rolling resize in the order the
// function rolls it (each replica restarted at its new size, a switchover to
// a resized replica, then the old primary). The cluster stays writable
// (the longest wait for an acknowledged commit is logged for the closing
// note and the benchmark) and no acknowledged commit is lost.
func TestDayTwoUnderWriter(t *testing.T) {
	tc := newCluster(t, "sync")
	primary := tc.waitHealthy(t, 90*time.Second)
	w, stop := tc.startWriter(t, primary)
	defer stop()
	ctx := context.Background()

	// 1. Switchover to the synchronous standby.
	start := time.Now()
	from, to := tc.nameAt(primary), tc.syncStandby(t, primary)
	if err := Switchover(ctx, primary, from, to); err != nil {
		t.Fatalf("switchover %s -> %s: %v", from, to, err)
	}
	newPrimary := tc.waitPrimary(t, to)
	took := time.Since(start)
	w.waitAck(t, time.Now())
	gapSwitchover := w.maxGapSince(start)
	t.Logf("switchover %s -> %s took %.1fs; longest wait for a commit %.2fs", from, to, took.Seconds(), gapSwitchover.Seconds())

	// 2. Rolling resize: 512 MiB to 768 MiB (shared_buffers 128MB to
	// 192MB, a restart).
	start = time.Now()
	resize := func(name string) {
		t.Helper()
		i := tc.index(name)
		tc.nodes[i].MemoryMiB = 768
		h, err := sshexec.Dial(ctx, tc.targets[i], adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close() //nolint:errcheck // Test.
		r := role{tc.nodes[i]}
		// The controller applies, then reapplies while drift remains (the
		// restart is pending only once Patroni has reloaded).
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			if _, err := r.Apply(ctx, h); err != nil {
				t.Logf("apply %s: %v", name, err)
			}
			sb, err := psql(tc.nodes[i].Address, "SHOW shared_buffers")
			if err == nil && sb == "192MB" && clusterDrift(ctx, tc.nodes[i]) == "" {
				if st, _, err := Observe(ctx, tc.nodes[i].Address); err == nil && (st.State == "running" || st.State == "streaming") {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not running at its new size after 60s (shared_buffers %q, %v)", name, sb, err)
			}
		}
	}
	for _, n := range tc.nodes {
		if n.Address != newPrimary {
			resize(n.Name)
		}
	}
	old := tc.nameAt(newPrimary)
	target := tc.syncStandby(t, newPrimary)
	if err := Switchover(ctx, newPrimary, old, target); err != nil {
		t.Fatalf("rolling switchover %s -> %s: %v", old, target, err)
	}
	tc.waitPrimary(t, target)
	resize(old)
	took = time.Since(start)
	w.waitAck(t, time.Now())
	gapResize := w.maxGapSince(start)
	t.Logf("rolling resize of 3 nodes took %.1fs; longest wait for a commit %.2fs", took.Seconds(), gapResize.Seconds())

	// 3. A restart through Patroni of a replica, as a restart request does.
	replica := tc.nodes[tc.index(old)].Address
	before, err := psql(replica, "SELECT pg_postmaster_start_time()")
	if err != nil {
		t.Fatal(err)
	}
	if err := (role{tc.nodes[tc.index(old)]}).Restart(ctx, nil); err != nil {
		t.Fatalf("restart %s: %v", old, err)
	}
	if after, err := psql(replica, "SELECT pg_postmaster_start_time()"); err != nil || after == before {
		t.Errorf("%s not restarted: started %q before, %q after (%v)", old, before, after, err)
	}
	stop()

	lost, count := tc.lostCommits(t, w, "")
	w.mu.Lock()
	acked := len(w.acked)
	w.mu.Unlock()
	t.Logf("%d commits acknowledged, %d rows, %d lost; longest wait for a commit: switchover %.2fs, rolling resize %.2fs", acked, count, lost, gapSwitchover.Seconds(), gapResize.Seconds())
	if lost != 0 {
		t.Errorf("%d acknowledged commits lost across switchover and rolling resize", lost)
	}
	// A generous bound: what matters is that the cluster was never down
	// for long (a failover takes ~15 s); the measured number is logged.
	if g := w.maxGap(); g > 10*time.Second {
		t.Errorf("the cluster was not writable for %.1fs during a planned operation", g.Seconds())
	}
}

func (tc *testCluster) nameAt(address string) string {
	for _, n := range tc.nodes {
		if n.Address == address {
			return n.Name
		}
	}
	return ""
}

func (tc *testCluster) index(name string) int {
	for i, n := range tc.nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}

// syncStandby is the member Patroni keeps synchronous (the only allowed
// switchover target in synchronous mode).
func (tc *testCluster) syncStandby(t testing.TB, primary string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		_, members, err := Observe(context.Background(), primary)
		if err != nil {
			continue
		}
		for _, m := range members {
			if m.Role == "sync_standby" && (m.State == "streaming" || m.State == "running") {
				return m.Name
			}
		}
	}
	t.Fatalf("no synchronous standby streaming from %s", primary)
	return ""
}

// waitPrimary waits for the named member to be the running primary and
// returns its address.
func (tc *testCluster) waitPrimary(t testing.TB, name string) string {
	t.Helper()
	addr := tc.nodes[tc.index(name)].Address
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if st, _, err := Observe(context.Background(), addr); err == nil && st.Role == "primary" && st.State == "running" {
			return addr
		}
	}
	t.Fatalf("%s is not the primary 60s after the switchover", name)
	return ""
}
