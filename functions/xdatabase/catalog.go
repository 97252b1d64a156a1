package xdatabase

import (
	"maps"

	"github.com/quorumdb/quorum/functions/xdatabase/engine"
	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
)

// defaultCatalog is what the platform offers when the Composition's input
// does not say otherwise. It is data: platform teams override any entry
// through the input's catalog field.
func defaultCatalog() v1alpha1.Catalog {
	shapes := func(inst [4]string) map[string]v1alpha1.Size {
		return map[string]v1alpha1.Size{
			"small":  {CPUs: 2, MemoryMiB: 4096, InstanceType: inst[0], OSDiskGiB: 20},
			"medium": {CPUs: 4, MemoryMiB: 16384, InstanceType: inst[1], OSDiskGiB: 20},
			"large":  {CPUs: 8, MemoryMiB: 32768, InstanceType: inst[2], OSDiskGiB: 30},
			"xlarge": {CPUs: 16, MemoryMiB: 65536, InstanceType: inst[3], OSDiskGiB: 30},
		}
	}
	return v1alpha1.Catalog{
		Tiers: map[string]v1alpha1.Tier{
			"dev":      {Nodes: 1, Replication: "none"},
			"standard": {Nodes: 1, Replication: "none", Backups: true},
			"ha":       {Nodes: 3, Replication: "async", Backups: true, AntiAffinity: true},
			"critical": {Nodes: 3, Replication: "sync", Backups: true, AntiAffinity: true},
		},
		Sizes: map[string]map[string]v1alpha1.Size{
			"vsphere": shapes([4]string{"", "", "", ""}),
			"azure":   shapes([4]string{"Standard_D2s_v5", "Standard_E2s_v5", "Standard_E4s_v5", "Standard_E8s_v5"}),
			"gcp":     shapes([4]string{"e2-medium", "n2-highmem-2", "n2-highmem-4", "n2-highmem-8"}),
		},
	}
}

// catalog merges the input's entries over the defaults and the engines'
// built-in versions.
func catalog(in v1alpha1.Catalog) v1alpha1.Catalog {
	c := defaultCatalog()
	c.Versions = map[string][]string{}
	for _, n := range engine.Names() {
		e, _ := engine.Get(n)
		c.Versions[n] = e.Versions
	}
	maps.Copy(c.Tiers, in.Tiers)
	for p, sizes := range in.Sizes {
		if c.Sizes[p] == nil {
			c.Sizes[p] = map[string]v1alpha1.Size{}
		}
		maps.Copy(c.Sizes[p], sizes)
	}
	maps.Copy(c.Versions, in.Versions)
	return c
}
