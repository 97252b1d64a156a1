package xdatabase

import (
	"context"
	"fmt"
	"testing"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
)

// BenchmarkRunFunction measures one RunFunction call per engine and tier, in
// process, for a database that is fully up (every composed resource observed
// ready): the largest request and response the function handles.
func BenchmarkRunFunction(b *testing.B) {
	versions := map[string]string{"postgresql": "15", "mongodb": "7.0", "sqlserver": "2022"}
	nodes := map[string]int{"dev": 1, "standard": 1, "ha": 3, "critical": 3}
	f := &Function{Log: logging.NewNopLogger()}
	for _, engine := range []string{"postgresql", "mongodb", "sqlserver"} {
		for _, tier := range []string{"dev", "standard", "ha", "critical"} {
			spec := fmt.Sprintf(`{"engine": %q, "version": %q, "tier": %q, "size": "medium", "storageGB": 50, "platform": "vsphere"}`, engine, versions[engine], tier)
			obs := merge(vmsReady(nodes[tier], 4, 16384), nodesReady(nodes[tier], versions[engine]), usersReady(), secretObserved())
			req := &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: obs.state(spec)}
			b.Run(engine+"/"+tier, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rsp, err := f.RunFunction(context.Background(), req)
					if err != nil || len(rsp.GetResults()) > 0 {
						b.Fatalf("RunFunction: %v %v", err, rsp.GetResults())
					}
				}
			})
		}
	}
}
