package xdatabase

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// benchRequest is the largest request for an engine and tier: a database
// that is fully up, every composed resource observed ready.
func benchRequest(engine, tier string) *fnv1.RunFunctionRequest {
	versions := map[string]string{"postgresql": "15", "mongodb": "7.0", "sqlserver": "2022"}
	nodes := map[string]int{"dev": 1, "standard": 1, "ha": 3, "critical": 3}
	spec := fmt.Sprintf(`{"engine": %q, "version": %q, "tier": %q, "size": "medium", "storageGB": 50, "platform": "vsphere"}`, engine, versions[engine], tier)
	obs := merge(vmsReady(nodes[tier], 4, 16384), nodesReady(nodes[tier], versions[engine]), usersReady(), secretObserved())
	return &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: obs.state(spec)}
}

// latencies reports the median and 99th percentile of the iterations.
func latencies(b *testing.B, d []time.Duration) (p50, p99 time.Duration) {
	b.Helper()
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	p50, p99 = d[len(d)/2], d[len(d)*99/100]
	b.ReportMetric(float64(p50.Microseconds()), "us-p50")
	b.ReportMetric(float64(p99.Microseconds()), "us-p99")
	return p50, p99
}

// BenchmarkRunFunction measures one RunFunction call per engine and tier, in
// process, with its median and 99th percentile latency and allocations.
func BenchmarkRunFunction(b *testing.B) {
	f := &Function{Log: logging.NewNopLogger()}
	for _, engine := range []string{"postgresql", "mongodb", "sqlserver"} {
		for _, tier := range []string{"dev", "standard", "ha", "critical"} {
			req := benchRequest(engine, tier)
			b.Run(engine+"/"+tier, func(b *testing.B) {
				b.ReportAllocs()
				d := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					rsp, err := f.RunFunction(context.Background(), req)
					d = append(d, time.Since(start))
					if err != nil || len(rsp.GetResults()) > 0 {
						b.Fatalf("RunFunction: %v %v", err, rsp.GetResults())
					}
				}
				latencies(b, d)
			})
		}
	}
}

// noop answers every request with a fixed response: the floor any function
// has over gRPC for a response of that size.
type noop struct {
	fnv1.UnimplementedFunctionRunnerServiceServer
	rsp *fnv1.RunFunctionResponse
}

func (n *noop) RunFunction(context.Context, *fnv1.RunFunctionRequest) (*fnv1.RunFunctionResponse, error) {
	return n.rsp, nil
}

// BenchmarkRunFunctionGRPC calls the function over gRPC on loopback, as
// Crossplane core does (without TLS), next to a no-op function returning
// the same response: the ratio of the two is what composing with our
// function costs over the floor.
func BenchmarkRunFunctionGRPC(b *testing.B) {
	f := &Function{Log: logging.NewNopLogger()}
	req := benchRequest("postgresql", "ha")
	rsp, err := f.RunFunction(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	var p50 = map[string]time.Duration{}
	for _, s := range []struct {
		name string
		srv  fnv1.FunctionRunnerServiceServer
	}{{"noop", &noop{rsp: rsp}}, {"xdatabase", f}} {
		b.Run(s.name, func(b *testing.B) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := grpc.NewServer()
			fnv1.RegisterFunctionRunnerServiceServer(srv, s.srv)
			go func() { _ = srv.Serve(lis) }()
			defer srv.Stop()
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close() //nolint:errcheck // Benchmark.
			c := fnv1.NewFunctionRunnerServiceClient(conn)
			if _, err := c.RunFunction(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			d := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if _, err := c.RunFunction(context.Background(), req); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			p50[s.name], _ = latencies(b, d)
		})
	}
	if p50["noop"] > 0 && p50["xdatabase"] > 0 {
		ratio := float64(p50["xdatabase"]) / float64(p50["noop"])
		b.Logf("over gRPC: xdatabase %v, no-op %v per call (median): %.2fx", p50["xdatabase"], p50["noop"], ratio)
		if out := os.Getenv("QUORUM_BENCH_OUT"); out != "" {
			if fh, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil { //nolint:gosec // A results file.
				_, _ = fmt.Fprintf(fh, "function over gRPC (postgresql ha, all observed): median %v vs no-op %v = %.2fx\n", p50["xdatabase"], p50["noop"], ratio)
				_ = fh.Close()
			}
		}
	}
}
