package gcp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	compute "google.golang.org/api/compute/v1"
)

// fakeCompute is a small stateful Compute Engine: instances with their
// disks, and zonal operations that are RUNNING on the first poll and DONE on
// the next. It records every call for assertions.
type fakeCompute struct {
	mu        sync.Mutex
	instances map[string]*compute.Instance
	ops       map[string]int
	calls     []string
	n         int
}

func newFake(t *testing.T) (*fakeCompute, *httptest.Server) {
	f := &fakeCompute{instances: map[string]*compute.Instance{}, ops: map[string]int{}}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return f, s
}

func (f *fakeCompute) op(w http.ResponseWriter) {
	f.n++
	name := fmt.Sprintf("op-%d", f.n)
	f.ops[name] = 0
	_ = json.NewEncoder(w).Encode(&compute.Operation{Name: name, Status: "RUNNING"})
}

func (f *fakeCompute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// /compute/v1/projects/{p}/zones/{z}/{collection}/{name}[/{verb}]
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/compute/v1/projects/"), "/")
	if len(parts) < 4 {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	coll := parts[3]
	name, verb := "", ""
	if len(parts) > 4 {
		name = parts[4]
	}
	if len(parts) > 5 {
		verb = parts[5]
	}
	f.calls = append(f.calls, strings.TrimSpace(r.Method+" "+coll+" "+verb))
	notFound := func() {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 404, "message": "The resource '" + name + "' was not found"}})
	}
	switch {
	case coll == "operations":
		polls, ok := f.ops[name]
		if !ok {
			notFound()
			return
		}
		f.ops[name] = polls + 1
		st := "RUNNING"
		if polls >= 1 {
			st = "DONE"
		}
		_ = json.NewEncoder(w).Encode(&compute.Operation{Name: name, Status: st})
	case coll == "instances" && r.Method == http.MethodPost && name == "":
		in := &compute.Instance{}
		_ = json.NewDecoder(r.Body).Decode(in)
		if _, ok := f.instances[in.Name]; ok {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 409, "message": "already exists"}})
			return
		}
		in.Id = uint64(1000 + len(f.instances))
		in.Status = "RUNNING"
		for _, d := range in.Disks {
			d.DiskSizeGb = d.InitializeParams.DiskSizeGb
			d.Source = d.InitializeParams.DiskName
		}
		f.instances[in.Name] = in
		f.op(w)
	case coll == "instances":
		in, ok := f.instances[name]
		if !ok {
			notFound()
			return
		}
		switch {
		case r.Method == http.MethodGet:
			_ = json.NewEncoder(w).Encode(in)
			return
		case r.Method == http.MethodDelete:
			delete(f.instances, name)
		case verb == "stop":
			in.Status = "TERMINATED"
		case verb == "start":
			in.Status = "RUNNING"
		case verb == "setMachineType":
			if in.Status == "RUNNING" {
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 400, "message": "Instance must be stopped to change its machine type"}})
				return
			}
			req := &compute.InstancesSetMachineTypeRequest{}
			_ = json.NewDecoder(r.Body).Decode(req)
			in.MachineType = req.MachineType
		}
		f.op(w)
	case coll == "disks" && verb == "resize":
		req := &compute.DisksResizeRequest{}
		_ = json.NewDecoder(r.Body).Decode(req)
		for _, in := range f.instances {
			for _, d := range in.Disks {
				if d.Source == name {
					d.DiskSizeGb = req.SizeGb
					f.op(w)
					return
				}
			}
		}
		notFound()
	default:
		http.Error(w, "not faked: "+r.Method+" "+r.URL.Path, http.StatusNotImplemented)
	}
}
