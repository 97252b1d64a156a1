package xdatabase

// The catalog maps what an app team asks for (tier, size) to what the
// platform builds. It is data: issue #3 moves it into the function input so
// platform teams can override it without rebuilding.

// Topology is what a tier means in nodes and replication.
type Topology struct {
	Nodes       int
	Synchronous bool
	Backups     bool
}

// Shape is a VM shape on a platform.
type Shape struct {
	CPUs      int32
	MemoryMiB int32
	// AzureSize and GCPMachineType name the shape on the clouds.
	AzureSize      string
	GCPMachineType string
}

var tiers = map[string]Topology{
	"dev":      {Nodes: 1},
	"standard": {Nodes: 1, Backups: true},
	"ha":       {Nodes: 3, Backups: true},
	"critical": {Nodes: 3, Synchronous: true, Backups: true},
}

var sizes = map[string]Shape{
	"small":  {CPUs: 2, MemoryMiB: 4096, AzureSize: "Standard_D2s_v5", GCPMachineType: "n2-standard-2"},
	"medium": {CPUs: 4, MemoryMiB: 16384, AzureSize: "Standard_D4s_v5", GCPMachineType: "n2-standard-4"},
	"large":  {CPUs: 8, MemoryMiB: 32768, AzureSize: "Standard_D8s_v5", GCPMachineType: "n2-standard-8"},
	"xlarge": {CPUs: 16, MemoryMiB: 65536, AzureSize: "Standard_D16s_v5", GCPMachineType: "n2-standard-16"},
}
