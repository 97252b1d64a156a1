package xdatabase

import (
	"fmt"
)

// vmShape is the part of a VM that changes with the size.
type vmShape struct {
	CPUs         int32
	MemoryMiB    int32
	InstanceType string
	DiskGiB      int32
}

// nodeShape is the part of a DatabaseNode that changes with size and version.
type nodeShape struct {
	Version        string
	CPUs           int32
	MemoryMiB      int32
	SwitchoverTo   string
	RestartRequest string
}

// rollout decides, for each node, the shape to ask for now.
type rollout struct {
	vm      []vmShape
	node    []nodeShape
	active  bool
	message string
}

// rollout applies changes that touch running nodes (resize, minor upgrade,
// a restart request) one node at a time: replicas first, each waiting until the previous one is
// healthy again at its new shape, then a switchover away from the primary,
// then the old primary. Disk growth is online and applied to all at once.
// Nodes not yet created get the target shape directly.
func (p *plan) rollout() rollout {
	n := p.tier.Nodes
	target := vmShape{CPUs: p.size.CPUs, MemoryMiB: p.size.MemoryMiB, InstanceType: p.size.InstanceType, DiskGiB: p.spec.StorageGB}
	r := rollout{vm: make([]vmShape, n), node: make([]nodeShape, n)}

	type state struct {
		exists, pending, healthy bool
		vm                       vmShape
		version, restart         string
		primary                  bool
	}
	restart := p.spec.RestartRequest
	s := make([]state, n)
	for i := range n {
		r.vm[i] = target
		r.node[i] = nodeShape{Version: p.spec.Version, CPUs: target.CPUs, MemoryMiB: target.MemoryMiB, RestartRequest: restart}
		o, ok := p.observed[vmKey(i)]
		if !ok {
			continue
		}
		cur := observedShape(o)
		ver, asked, done := p.spec.Version, restart, restart
		if no, ok := p.observed[nodeKey(i)]; ok {
			ver = no.str("spec", "forProvider", "version")
			asked = no.str("spec", "forProvider", "restartRequest")
			done = no.str("status", "atProvider", "lastRestart", "request")
		}
		s[i] = state{
			exists:  true,
			vm:      cur,
			version: ver,
			restart: asked,
			pending: cur.CPUs != target.CPUs || cur.MemoryMiB != target.MemoryMiB || cur.InstanceType != target.InstanceType || ver != p.spec.Version || asked != restart,
			// A node asked to restart is healthy again once it reports
			// the restart done.
			healthy: p.ready(vmKey(i)) && p.ready(nodeKey(i)) && done == asked,
			primary: p.role(i) == "primary",
		}
	}

	var pending []int
	for i := range n {
		if s[i].pending {
			pending = append(pending, i)
		}
	}
	hold := func(i int) {
		// Keep the node as it runs now, but let its disk grow.
		r.vm[i] = s[i].vm
		r.vm[i].DiskGiB = max(s[i].vm.DiskGiB, target.DiskGiB)
		r.node[i] = nodeShape{Version: s[i].version, CPUs: s[i].vm.CPUs, MemoryMiB: s[i].vm.MemoryMiB, RestartRequest: s[i].restart}
	}
	if len(pending) == 0 {
		p.requestedSwitchover(&r, s2primary(s, func(x state) bool { return x.primary }))
		return r
	}
	r.active = true
	for _, i := range pending {
		hold(i)
	}
	// Wait for a node already changed to come back healthy.
	for i := range n {
		if s[i].exists && !s[i].pending && !s[i].healthy {
			r.message = fmt.Sprintf("rolling update: waiting for %s to be healthy at its new shape (%d of the nodes left to update)", nodeName(p.name, i), len(pending))
			return r
		}
	}
	next := -1
	for _, i := range pending {
		if !s[i].primary {
			next = i
			break
		}
	}
	if next >= 0 {
		r.vm[next] = target
		r.node[next] = nodeShape{Version: p.spec.Version, CPUs: target.CPUs, MemoryMiB: target.MemoryMiB, RestartRequest: restart}
		r.message = fmt.Sprintf("rolling update: updating replica %s (%d of the nodes left to update)", nodeName(p.name, next), len(pending))
		return r
	}
	prim := pending[0]
	if n > 1 {
		// Only the primary is left: hand its role to an updated, healthy
		// replica first, so the cluster stays writable through the change.
		// With synchronous replication it must be the synchronous standby
		// (Patroni refuses any other, it could miss commits).
		candidates := make([]int, 0, n)
		if sync := p.syncStandby(prim); sync >= 0 {
			candidates = append(candidates, sync)
		}
		for i := range n {
			candidates = append(candidates, i)
		}
		for _, i := range candidates {
			if i != prim && !s[i].pending && s[i].healthy {
				r.node[prim].SwitchoverTo = nodeName(p.name, i)
				r.message = fmt.Sprintf("rolling update: switching over from %s to %s before updating it", nodeName(p.name, prim), nodeName(p.name, i))
				return r
			}
		}
		r.message = fmt.Sprintf("rolling update: waiting for a healthy replica to take over from %s", nodeName(p.name, prim))
		return r
	}
	r.vm[prim] = target
	r.node[prim] = nodeShape{Version: p.spec.Version, CPUs: target.CPUs, MemoryMiB: target.MemoryMiB, RestartRequest: restart}
	r.message = fmt.Sprintf("updating single node %s (the database is unavailable while it restarts)", nodeName(p.name, prim))
	return r
}

// syncStandby is the index of the member the node at primary reports as
// its synchronous standby, or -1.
func (p *plan) syncStandby(primary int) int {
	o, ok := p.observed[nodeKey(primary)]
	if !ok {
		return -1
	}
	for _, m := range o.list("status", "atProvider", "members") {
		if value(m, "role").GetStringValue() != "sync_standby" {
			continue
		}
		for i := range p.tier.Nodes {
			if value(m, "name").GetStringValue() == nodeName(p.name, i) {
				return i
			}
		}
	}
	return -1
}

func s2primary[T any](s []T, isPrimary func(T) bool) int {
	for i, x := range s {
		if isPrimary(x) {
			return i
		}
	}
	return -1
}

// requestedSwitchover passes spec.switchoverTo to the current primary when
// nothing else is rolling.
func (p *plan) requestedSwitchover(r *rollout, primary int) {
	to := p.spec.SwitchoverTo
	if to == "" || primary < 0 || to == nodeName(p.name, primary) {
		return
	}
	r.node[primary].SwitchoverTo = to
	r.active = true
	r.message = fmt.Sprintf("switchover requested from %s to %s", nodeName(p.name, primary), to)
}

// observedShape reads a VM's current shape from its observed spec.
func observedShape(vm obs) vmShape {
	var disk int64
	if d := vm.list("spec", "forProvider", "dataDisks"); len(d) > 0 {
		disk = int64(value(d[0], "sizeGiB").GetNumberValue())
	}
	inst := vm.str("spec", "forProvider", "azure", "vmSize")
	if inst == "" {
		inst = vm.str("spec", "forProvider", "gcp", "machineType")
	}
	return vmShape{CPUs: int32(vm.num("spec", "forProvider", "cpus")), MemoryMiB: int32(vm.num("spec", "forProvider", "memoryMiB")), InstanceType: inst, DiskGiB: int32(disk)}
}
