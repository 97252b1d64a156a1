package xdatabase

import (
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/google/go-cmp/cmp"
)

// TestRollingResize walks a resize of an ha database from small to medium
// step by step, feeding each response's shapes back as observed state, and
// checks the order: replicas one at a time, a switchover, then the old
// primary.
func TestRollingResize(t *testing.T) {
	medium := `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "medium", "storageGB": 20, "platform": "vsphere"}`

	type step struct {
		reason     string
		observed   observedState
		wantPhase  string
		wantCPUs   [3]float64 // desired cpus per VM
		switchover string     // desired switchoverTo on node 0
	}
	small := merge(vmsReady(3, 2, 4096), nodesReady(3, "15"), usersReady(), secretObserved())
	// orders-2 resized (observed at the new shape) but not yet healthy again.
	r2changing := merge(small, observedState{"vm-2": vmAt(2, 4, 16384, false)})
	r2done := merge(small, observedState{"vm-2": vmAt(2, 4, 16384, true)})
	r1done := merge(r2done, observedState{"vm-1": vmAt(1, 4, 16384, true)})
	switched := merge(r1done, observedState{"node-0": nodeAs(0, "replica"), "node-1": nodeAs(1, "primary")})

	steps := []step{
		{reason: "The first replica is resized, the others held.", observed: small, wantPhase: PhaseUpdating, wantCPUs: [3]float64{2, 4, 2}},
		{reason: "While a resized node is not healthy, nothing else moves.", observed: merge(small, observedState{"vm-1": vmAt(1, 4, 16384, false)}), wantPhase: PhaseUpdating, wantCPUs: [3]float64{2, 4, 2}},
		{reason: "Same when the other replica is the one changing.", observed: r2changing, wantPhase: PhaseUpdating, wantCPUs: [3]float64{2, 2, 4}},
		{reason: "With orders-2 healthy, orders-1 goes next.", observed: r2done, wantPhase: PhaseUpdating, wantCPUs: [3]float64{2, 4, 4}},
		{reason: "Only the primary is left: switch over to a resized replica first.", observed: r1done, wantPhase: PhaseUpdating, wantCPUs: [3]float64{2, 4, 4}, switchover: "orders-1"},
		{reason: "With synchronous replication, to the synchronous standby (Patroni refuses any other).", observed: merge(r1done, observedState{"node-0": nodeWithSync(0, "orders-2")}), wantPhase: PhaseUpdating, wantCPUs: [3]float64{2, 4, 4}, switchover: "orders-2"},
		{reason: "After the switchover the old primary is a replica and is resized.", observed: switched, wantPhase: PhaseUpdating, wantCPUs: [3]float64{4, 4, 4}},
		{reason: "All at the new size and healthy: done.", observed: merge(switched, observedState{"vm-0": vmAt(0, 4, 16384, true)}), wantPhase: PhaseAvailable, wantCPUs: [3]float64{4, 4, 4}},
	}
	for i, s := range steps {
		rsp := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: s.observed.state(medium)})
		if len(rsp.GetResults()) > 0 {
			t.Fatalf("step %d: unexpected results: %v", i, rsp.GetResults())
		}
		got := [3]float64{}
		for n := range 3 {
			got[n] = rsp.GetDesired().GetResources()[string(vmKey(n))].GetResource().GetFields()["spec"].GetStructValue().GetFields()["forProvider"].GetStructValue().GetFields()["cpus"].GetNumberValue()
		}
		if diff := cmp.Diff(s.wantCPUs, got); diff != "" {
			t.Errorf("step %d: %s\ndesired cpus: -want, +got:\n%s", i, s.reason, diff)
		}
		phase := rsp.GetDesired().GetComposite().GetResource().GetFields()["status"].GetStructValue().GetFields()["phase"].GetStringValue()
		if phase != s.wantPhase {
			t.Errorf("step %d: %s\nphase: want %q, got %q", i, s.reason, s.wantPhase, phase)
		}
		sw := rsp.GetDesired().GetResources()["node-0"].GetResource().GetFields()["spec"].GetStructValue().GetFields()["forProvider"].GetStructValue().GetFields()["switchoverTo"].GetStringValue()
		if sw != s.switchover {
			t.Errorf("step %d: %s\nnode-0 switchoverTo: want %q, got %q", i, s.reason, s.switchover, sw)
		}
	}
}

// TestStorageGrowsEverywhere checks that a disk grow is applied to every node
// at once, since it needs no restart.
func TestStorageGrowsEverywhere(t *testing.T) {
	bigger := `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "small", "storageGB": 50, "platform": "vsphere"}`
	obs := merge(vmsReady(3, 2, 4096), nodesReady(3, "15"), usersReady(), secretObserved())
	rsp := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: obs.state(bigger)})
	for n := range 3 {
		disks := rsp.GetDesired().GetResources()[string(vmKey(n))].GetResource().GetFields()["spec"].GetStructValue().GetFields()["forProvider"].GetStructValue().GetFields()["dataDisks"].GetListValue().GetValues()
		if got := disks[0].GetStructValue().GetFields()["sizeGiB"].GetNumberValue(); got != 50 {
			t.Errorf("vm-%d data disk: want 50 GiB, got %v", n, got)
		}
	}
}

// TestMinorUpgradeRolls checks a version change goes through the same order.
func TestMinorUpgradeRolls(t *testing.T) {
	newer := `{"engine": "postgresql", "version": "15.9", "tier": "ha", "size": "small", "storageGB": 20, "platform": "vsphere"}`
	obs := merge(vmsReady(3, 2, 4096), nodesReady(3, "15.8"), usersReady(), secretObserved())
	rsp := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: obs.state(newer)})
	got := [3]string{}
	for n := range 3 {
		got[n] = rsp.GetDesired().GetResources()[string(nodeKey(n))].GetResource().GetFields()["spec"].GetStructValue().GetFields()["forProvider"].GetStructValue().GetFields()["version"].GetStringValue()
	}
	if diff := cmp.Diff([3]string{"15.8", "15.9", "15.8"}, got); diff != "" {
		t.Errorf("one replica upgraded first: -want, +got:\n%s", diff)
	}
}

func vmAt(i, cpus, mem int, healthy bool) string {
	cond := `"conditions": [{"type": "Ready", "status": "False", "reason": "Unavailable", "lastTransitionTime": "2026-01-01T00:00:00Z"}]`
	if healthy {
		cond = readyCond
	}
	return `{"apiVersion": "compute.m.quorum.dev/v1alpha1", "kind": "VirtualMachine",
		"metadata": {"name": "` + nodeName("orders", i) + `", "namespace": "team-a", "generation": 2},
		"spec": {"forProvider": {"cpus": ` + itoa(cpus) + `, "memoryMiB": ` + itoa(mem) + `, "dataDisks": [{"name": "data", "sizeGiB": 20}]}},
		"status": {"atProvider": {}, ` + cond + `}}`
}

func nodeAs(i int, role string) string {
	return `{"apiVersion": "db.m.quorum.dev/v1alpha1", "kind": "DatabaseNode",
		"metadata": {"name": "` + nodeName("orders", i) + `", "namespace": "team-a", "generation": 1},
		"spec": {"forProvider": {"version": "15"}},
		"status": {"atProvider": {"role": "` + role + `"}, ` + readyCond + `}}`
}

// nodeWithSync is node i as primary, reporting sync as its synchronous
// standby.
func nodeWithSync(i int, sync string) string {
	return `{"apiVersion": "db.m.quorum.dev/v1alpha1", "kind": "DatabaseNode",
		"metadata": {"name": "` + nodeName("orders", i) + `", "namespace": "team-a", "generation": 1},
		"spec": {"forProvider": {"version": "15"}},
		"status": {"atProvider": {"role": "primary", "members": [{"name": "orders-0", "role": "primary"}, {"name": "orders-1", "role": "replica"}, {"name": "` + sync + `", "role": "sync_standby"}]}, ` + readyCond + `}}`
}

// nodeRestart is node i in role, asked to restart for asked and having
// restarted for done.
func nodeRestart(i int, role, asked, done string) string {
	return `{"apiVersion": "db.m.quorum.dev/v1alpha1", "kind": "DatabaseNode",
		"metadata": {"name": "` + nodeName("orders", i) + `", "namespace": "team-a", "generation": 1},
		"spec": {"forProvider": {"version": "15", "restartRequest": "` + asked + `"}},
		"status": {"atProvider": {"role": "` + role + `", "lastRestart": {"request": "` + done + `", "result": "succeeded"}}, ` + readyCond + `}}`
}

// TestRollingRestart walks a restart request through an ha database: one
// replica at a time, each waiting for the previous one to report its
// restart done, then a switchover, then the old primary.
func TestRollingRestart(t *testing.T) {
	spec := `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "small", "storageGB": 20, "platform": "vsphere", "restartRequest": "2026-11-22T10:00"}`
	const r = "2026-11-22T10:00"
	base := merge(vmsReady(3, 2, 4096), usersReady(), secretObserved())
	nodes := func(n0, n1, n2 string) observedState {
		return merge(base, observedState{"node-0": n0, "node-1": n1, "node-2": n2})
	}
	steps := []struct {
		reason     string
		observed   observedState
		want       [3]string // desired restartRequest per node
		switchover string
		phase      string
	}{
		{"The first replica is asked to restart, the others held.",
			nodes(nodeRestart(0, "primary", "", ""), nodeRestart(1, "replica", "", ""), nodeRestart(2, "replica", "", "")), [3]string{"", r, ""}, "", PhaseUpdating},
		{"Until it reports the restart done, nothing else moves.",
			nodes(nodeRestart(0, "primary", "", ""), nodeRestart(1, "replica", r, ""), nodeRestart(2, "replica", "", "")), [3]string{"", r, ""}, "", PhaseUpdating},
		{"Then the other replica.",
			nodes(nodeRestart(0, "primary", "", ""), nodeRestart(1, "replica", r, r), nodeRestart(2, "replica", "", "")), [3]string{"", r, r}, "", PhaseUpdating},
		{"Only the primary is left: a switchover to a restarted replica first.",
			nodes(nodeRestart(0, "primary", "", ""), nodeRestart(1, "replica", r, r), nodeRestart(2, "replica", r, r)), [3]string{"", r, r}, "orders-1", PhaseUpdating},
		{"The old primary, now a replica, restarts.",
			nodes(nodeRestart(0, "replica", "", ""), nodeRestart(1, "primary", r, r), nodeRestart(2, "replica", r, r)), [3]string{r, r, r}, "", PhaseUpdating},
		{"All restarted: available.",
			nodes(nodeRestart(0, "replica", r, r), nodeRestart(1, "primary", r, r), nodeRestart(2, "replica", r, r)), [3]string{r, r, r}, "", PhaseAvailable},
	}
	for i, s := range steps {
		rsp := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: s.observed.state(spec)})
		var got [3]string
		for n := range 3 {
			got[n] = rsp.GetDesired().GetResources()[string(nodeKey(n))].GetResource().GetFields()["spec"].GetStructValue().GetFields()["forProvider"].GetStructValue().GetFields()["restartRequest"].GetStringValue()
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("step %d: %s\nrestartRequest per node: -want +got:\n%s", i, s.reason, diff)
		}
		sw := rsp.GetDesired().GetResources()["node-0"].GetResource().GetFields()["spec"].GetStructValue().GetFields()["forProvider"].GetStructValue().GetFields()["switchoverTo"].GetStringValue()
		if sw != s.switchover {
			t.Errorf("step %d: %s\nnode-0 switchoverTo: want %q, got %q", i, s.reason, s.switchover, sw)
		}
		if phase := rsp.GetDesired().GetComposite().GetResource().GetFields()["status"].GetStructValue().GetFields()["phase"].GetStringValue(); phase != s.phase {
			t.Errorf("step %d: %s\nphase: want %q, got %q", i, s.reason, s.phase, phase)
		}
	}
}
