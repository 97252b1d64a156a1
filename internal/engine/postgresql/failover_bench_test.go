package postgresql

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/quorumdb/quorum/internal/sshexec"
)

// BenchmarkFailover kills -9 the primary's PostgreSQL and Patroni b.N times
// under a steady writer, on a three-node cluster with strict synchronous
// replication, and reports the time from each kill to the first
// acknowledged write (median, max) and the acknowledged commits missing at
// the end. After each kill the killed node is repaired as the provider
// does (its services started again; Patroni rejoins it with pg_rewind) and
// the cluster is healthy again before the next kill. Two configurations in
// the same run: Quorum's (ttl 10, loop_wait 1, the sentinel, WAL retry
// 500 ms) and Patroni as shipped (ttl 30, loop_wait 10, retry_timeout 10).
// Run with -benchtime=20x for 20 kills each (make bench).
func BenchmarkFailover(b *testing.B) {
	// A sub-benchmark's function runs more than once (b.N = 1 first) and
	// its cleanups run after each run: the clusters and writers belong to
	// this parent, which runs once, and serve every run of its subs.
	var first *testCluster
	for _, c := range []struct {
		name, cluster string
		plain         bool
	}{{"quorum", "orders", false}, {"patroni-defaults", "plain", true}} {
		var (
			tc      *testCluster
			w       *writer
			primary string
			stop    func()
		)
		b.Run(c.name, func(sb *testing.B) {
			if tc == nil {
				adjust := func(_ string, n *Node) { n.plain = c.plain }
				if first == nil {
					tc = newClusterWith(b, "sync", adjust)
					first = tc
				} else {
					tc = first.another(b, c.cluster, 3, 20, "sync", adjust)
				}
				primary = tc.waitHealthy(b, 120*time.Second)
				w, stop = tc.startWriter(b, primary)
			}
			b := sb
			var took []time.Duration
			b.ResetTimer()
			for range b.N {
				took = append(took, tc.killOnce(b, w, primary))
				primary = tc.waitHealthy(b, 180*time.Second)
			}
			b.StopTimer()
			lost, count := tc.lostCommits(b, w, "")
			w.mu.Lock()
			acked := len(w.acked)
			w.mu.Unlock()
			slices.Sort(took)
			median, worst := took[len(took)/2], took[len(took)-1]
			b.ReportMetric(median.Seconds(), "s-median")
			b.ReportMetric(worst.Seconds(), "s-max")
			b.ReportMetric(float64(lost), "lost-commits")
			b.ReportMetric(float64(acked), "acked-commits")
			b.Logf("%s: %d kills, first acknowledged write after %v (sorted); %d commits acknowledged, %d rows, %d lost", c.name, len(took), took, acked, count, lost)
			if out := os.Getenv("QUORUM_BENCH_OUT"); out != "" && len(took) > 1 {
				f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644) //nolint:gosec // A results file.
				if err == nil {
					_, _ = fmt.Fprintf(f, "failover %s kills=%d median=%.2fs max=%.2fs acked=%d lost=%d\n", c.name, len(took), median.Seconds(), worst.Seconds(), acked, lost)
					_ = f.Close()
				}
			}
			if lost != 0 {
				b.Errorf("%d acknowledged commits lost with synchronous replication", lost)
			}
		})
		if stop != nil {
			stop()
		}
	}
}

// killOnce kills the primary and waits for the first acknowledged write
// after it. The killed node's services are started again as the provider
// does on its next pass: once writes are back, or after 30 s without them
// (a kill before Patroni recorded a synchronous standby leaves no member
// allowed to take over: only the old primary can come back).
func (tc *testCluster) killOnce(b *testing.B, w *writer, primary string) time.Duration {
	b.Helper()
	w.mu.Lock()
	w.killed, w.failed, w.recovered = time.Now(), false, time.Time{}
	killed := w.killed
	w.mu.Unlock()
	tc.killPrimary(b, primary)
	restarted := false
	restart := func() {
		restarted = true
		i := slices.IndexFunc(tc.nodes, func(n Node) bool { return n.Address == primary })
		h, err := sshexec.Dial(context.Background(), tc.targets[i], adminPassword)
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close() //nolint:errcheck // Benchmark.
		if err := Apply(context.Background(), h, tc.nodes[i]); err != nil {
			b.Fatalf("restart %s: %v", tc.nodes[i].Name, err)
		}
	}
	var took time.Duration
	for deadline := time.Now().Add(180 * time.Second); took == 0; time.Sleep(20 * time.Millisecond) {
		w.mu.Lock()
		switch {
		case !w.recovered.IsZero():
			took = w.recovered.Sub(killed)
		case !w.failed && time.Since(killed) > 10*time.Second:
			// No write failed: the first one after the kill counts.
			for _, at := range w.ackedAt {
				if at.After(killed) {
					took = at.Sub(killed)
					break
				}
			}
		}
		w.mu.Unlock()
		if took == 0 && !restarted && time.Since(killed) > 30*time.Second {
			b.Logf("no write 30s after the kill: restarting the killed node")
			restart()
		}
		if took == 0 && time.Now().After(deadline) {
			tc.dumpLogs(b)
			b.Fatal("no write acknowledged within 180s of the kill")
		}
	}
	if dir := os.Getenv("QUORUM_BENCH_LOGS"); dir != "" && took > 5*time.Second {
		// Keep the nodes' logs of a slow failover for diagnosis.
		to := fmt.Sprintf("%s/%s-%s", dir, killed.Format("150405.000"), primary)
		b.Logf("slow failover (%v): logs in %s", took, to)
		for _, n := range tc.nodes {
			_ = os.MkdirAll(to, 0o755)
			_ = exec.Command("cp", "-r", n.BaseDir+"/log", to+"/"+n.Name).Run()
		}
	}
	if !restarted {
		restart()
	}
	return took
}
