package xdatabase

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/response"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const testInput = `{
	"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1",
	"kind": "Input",
	"addressPool": {"cidr": "10.77.0.0/24", "first": "10.77.0.16", "last": "10.77.0.31", "gateway": "10.77.0.1", "network": "VM Network"},
	"vsphere": {"template": "debian-12", "datacenter": "DC0", "cluster": "DC0_C0", "datastore": "LocalDS_0"},
	"azure": {"resourceGroup": "rg-db", "location": "westeurope", "image": "Debian:debian-12:12:latest", "zones": ["1", "2", "3"]},
	"gcp": {"image": "projects/debian-cloud/global/images/family/debian-12", "zones": ["europe-west1-b", "europe-west1-c", "europe-west1-d"]},
	"backupRepository": {
		"vsphere": {"type": "s3", "bucket": "backups", "path": "/xdatabase", "endpoint": "10.77.0.1:9000", "region": "us-east-1", "credentialsSecretName": "backup-s3", "credentialsSecretNamespace": "crossplane-system"},
		"azure": {"type": "azure", "bucket": "backups", "path": "/xdatabase", "credentialsSecretName": "backup-azure", "credentialsSecretNamespace": "crossplane-system"},
		"gcp": {"type": "filesystem"}
	}
}`

func xdb(spec string) *fnv1.Resource {
	return &fnv1.Resource{Resource: resource.MustStructJSON(`{
		"apiVersion": "platform.quorum.dev/v1alpha1",
		"kind": "XDatabase",
		"metadata": {"name": "orders", "namespace": "team-a", "uid": "8d1f3c2a-5b7e-4f7a-9c1d-2e3f4a5b6c7d"},
		"spec": ` + spec + `
	}`)}
}

func run(t *testing.T, req *fnv1.RunFunctionRequest) *fnv1.RunFunctionResponse {
	t.Helper()
	f := &Function{Log: logging.NewNopLogger()}
	rsp, err := f.RunFunction(context.Background(), req)
	if err != nil {
		t.Fatalf("RunFunction: %v", err)
	}
	return rsp
}

func TestRunFunctionFatal(t *testing.T) {
	fatal := func(msg string) *fnv1.RunFunctionResponse {
		return &fnv1.RunFunctionResponse{
			Meta:    &fnv1.ResponseMeta{Ttl: durationpb.New(response.DefaultTTL)},
			Results: []*fnv1.Result{{Severity: fnv1.Severity_SEVERITY_FATAL, Message: msg, Target: fnv1.Target_TARGET_COMPOSITE.Enum()}},
		}
	}
	cases := map[string]struct {
		reason string
		input  string
		spec   string
		// name replaces the XDatabase's name "orders" when set.
		name string
		want *fnv1.RunFunctionResponse
	}{
		"SwitchoverToNoMember": {
			reason: "A switchover to a name that is no member is refused, not dropped, with the members named.",
			input:  testInput,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "small", "storageGB": 20, "platform": "vsphere", "switchoverTo": "orders-7"}`,
			want:   fatal(`spec.switchoverTo "orders-7" names no member of this database: use one of orders-0, orders-1, orders-2`),
		},
		"NameTooLongForPlatform": {
			reason: "A VM name (from namespace and name) a platform cannot hold is refused, naming what to shorten.",
			input:  testInput,
			name:   "orders-with-a-name-much-longer-than-gcp-can-hold",
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "gcp"}`,
			want:   fatal(`XDatabase team-a/orders-with-a-name-much-longer-than-gcp-can-hold cannot be placed on gcp: the VM name q6-team-a-orders-with-a-name-much-longer-than-gcp-can-hold-0 (namespace team-a, name orders-with-a-name-much-longer-than-gcp-can-hold-0) is 60 characters, over the 58 gcp allows: shorten the namespace or the name by 2 characters`),
		},
		"UnknownTier": {
			reason: "A tier the catalog does not offer is refused, naming the field and the choices.",
			input:  testInput,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "gold", "size": "small", "storageGB": 20, "platform": "vsphere"}`,
			want:   fatal(`spec.tier "gold" is not offered: choose one of critical, dev, ha, standard`),
		},
		"UnknownVersion": {
			reason: "A version the catalog does not offer is refused with the offered ones.",
			input:  testInput,
			spec:   `{"engine": "postgresql", "version": "9.6", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"}`,
			want:   fatal(`spec.version "9.6" of postgresql is not offered: choose one of 14, 15, 16, 17`),
		},
		"UnknownSize": {
			reason: "A size the platform's catalog lacks is refused with the platform's sizes.",
			input:  testInput,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "huge", "storageGB": 20, "platform": "gcp"}`,
			want:   fatal(`spec.size "huge" is not offered on gcp: choose one of large, medium, small, xlarge`),
		},
		"ParameterNotAllowed": {
			reason: "Engine parameters outside the allow-list are refused.",
			input:  testInput,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere", "parameters": {"fsync": "off"}}`,
			want:   fatal(`spec.parameters.fsync cannot be set for postgresql: allowed parameters are max_connections, work_mem, maintenance_work_mem, effective_cache_size, random_page_cost, statement_timeout, idle_in_transaction_session_timeout, log_min_duration_statement, log_statement, default_statistics_target, timezone`),
		},
		"TierNotForEngine": {
			reason: "A tier the platform team restricted to other engines is refused for this one.",
			input:  `{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "addressPool": {"cidr": "10.0.0.0/24", "first": "10.0.0.4", "last": "10.0.0.40", "network": "n"}, "catalog": {"tiers": {"critical": {"nodes": 3, "replication": "sync", "backups": true, "antiAffinity": true, "engines": ["postgresql"]}}}}`,
			spec:   `{"engine": "mongodb", "version": "7.0", "tier": "critical", "size": "small", "storageGB": 20, "platform": "vsphere"}`,
			want:   fatal(`spec.tier "critical" is not offered for mongodb: it is offered for postgresql`),
		},
		"NoRepository": {
			reason: "A tier with backups on a platform whose repository the input does not name is refused, never sent to each node's own disk.",
			input:  `{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "addressPool": {"cidr": "10.0.0.0/24", "first": "10.0.0.4", "last": "10.0.0.40", "network": "n"}, "vsphere": {"template": "t"}}`,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "small", "storageGB": 20, "platform": "vsphere"}`,
			want:   fatal(`the Composition's function input has no backupRepository for vsphere, which tier ha (or a restore) needs: set backupRepository.vsphere to an object store every node reaches (s3, azure or gcs), or type filesystem for single hosts that keep their backups on their own disk`),
		},
		"VSphereWithoutTemplate": {
			reason: "A vSphere database needs the vsphere section of the function input.",
			input:  `{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "addressPool": {"cidr": "10.0.0.0/24", "first": "10.0.0.4", "last": "10.0.0.40", "network": "n"}}`,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"}`,
			want:   fatal(`cannot compose VirtualMachine orders-0: spec.platform is vsphere but the Composition's function input has no vsphere.template: add the template to clone (and datacenter, cluster, datastore) to the input`),
		},
		"VSphereNeedsRange": {
			reason: "vSphere assigns no addresses: its pool needs the range the provider leases from.",
			input:  `{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "addressPool": {"cidr": "10.0.0.0/24", "network": "n"}, "vsphere": {"template": "t"}}`,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"}`,
			want:   fatal(`the Composition's function input's address pool for vsphere needs both first and last: vSphere assigns no addresses itself`),
		},
		"HalfARange": {
			reason: "A range needs both ends.",
			input:  `{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "addressPool": {"cidr": "10.0.0.0/24", "first": "10.0.0.4", "network": "n"}, "gcp": {"image": "i", "zones": ["z"]}}`,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "gcp"}`,
			want:   fatal(`the Composition's function input's address pool for gcp needs both first and last (or neither, to let the cloud assign addresses)`),
		},
		"NoPoolForPlatform": {
			reason: "A platform with no address pool of its own and no top-level one is refused, naming both places to set one.",
			input:  `{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "vsphere": {"template": "t", "addressPool": {"cidr": "10.0.0.0/24", "first": "10.0.0.4", "last": "10.0.0.40", "network": "n"}}, "gcp": {"image": "i", "zones": ["z"]}}`,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "gcp"}`,
			want:   fatal(`the Composition's function input has no address pool for gcp: set gcp.addressPool or the top-level addressPool (its network at least)`),
		},
		"RestorePointInTimeOtherEngine": {
			reason: "Points in time are offered for PostgreSQL only.",
			input:  testInput,
			spec:   `{"engine": "mongodb", "version": "7.0", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere", "restore": {"fromDatabase": "old", "pointInTime": "2026-11-22T10:00:00Z"}}`,
			want:   fatal(`spec.restore.pointInTime is offered for postgresql only, not mongodb: it restores to the end of a backup; remove pointInTime or name a backup`),
		},
		"RestoreFromItself": {
			reason: "A database cannot start from its own backups (the legacy claim has no admission rule for it).",
			input:  testInput,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere", "restore": {"fromDatabase": "orders"}}`,
			want:   fatal(`spec.restore.fromDatabase names this XDatabase itself (orders): name the XDatabase whose backups to restore`),
		},
		"RestoreBadTime": {
			reason: "A point in time that is not RFC 3339 is refused with an example.",
			input:  testInput,
			spec:   `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere", "restore": {"fromDatabase": "old", "pointInTime": "yesterday"}}`,
			want:   fatal(`spec.restore.pointInTime "yesterday" is not an RFC 3339 time: write it as 2026-11-22T10:00:00Z`),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			x := xdb(tc.spec)
			if tc.name != "" {
				x.Resource.Fields["metadata"].GetStructValue().Fields["name"] = structpb.NewStringValue(tc.name)
			}
			got := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(tc.input), Observed: &fnv1.State{Composite: x}})
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("%s\nRunFunction(...): -want rsp, +got rsp:\n%s", tc.reason, diff)
			}
		})
	}
}

// observedState is a test fixture: observed composed resources by key.
type observedState map[string]string

func (o observedState) state(spec string) *fnv1.State {
	s := &fnv1.State{Composite: xdb(spec), Resources: map[string]*fnv1.Resource{}}
	for k, v := range o {
		s.Resources[k] = &fnv1.Resource{Resource: resource.MustStructJSON(v)}
	}
	if u, ok := s.Resources["user-app"]; ok {
		// The provider publishes a User's credentials as connection details.
		u.ConnectionDetails = map[string][]byte{"username": []byte("app"), "password": []byte("s3cret-from-provider")}
	}
	return s
}

// TestRunFunctionGolden compares whole responses with reviewed golden files.
// Run `go test ./functions/xdatabase -run Golden -update` after an intended
// change and review the diff of testdata/.
func TestRunFunctionGolden(t *testing.T) {
	ha := `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "small", "storageGB": 20, "platform": "vsphere"}`
	cases := map[string]struct {
		spec     string
		observed observedState
	}{
		"ha-nothing-observed": {spec: ha},
		"ha-vms-ready":        {spec: ha, observed: vmsReady(3, 2, 4096)},
		"ha-nodes-ready":      {spec: ha, observed: merge(vmsReady(3, 2, 4096), nodesReady(3, "15"))},
		"ha-users-ready":      {spec: ha, observed: merge(vmsReady(3, 2, 4096), nodesReady(3, "15"), usersReady())},
		"ha-all-ready":        {spec: ha, observed: merge(vmsReady(3, 2, 4096), nodesReady(3, "15"), usersReady(), secretObserved())},
		// Every node carries the source's repository and the target; the
		// source's repository is found by its name alone.
		"ha-restore-vms-ready": {spec: `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "small", "storageGB": 20, "platform": "vsphere", "restore": {"fromDatabase": "orders-old", "pointInTime": "2026-11-22T10:00:00Z"}}`, observed: vmsReady(3, 2, 4096)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: tc.observed.state(tc.spec)})
			golden(t, name, got)
		})
	}
}

func golden(t *testing.T, name string, got *fnv1.RunFunctionResponse) {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	// protojson output is deliberately unstable; normalise it.
	var v any
	_ = json.Unmarshal(b, &v)
	b, _ = json.MarshalIndent(v, "", "  ")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantJSON, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run with -update to create it): %v", err)
	}
	want := &fnv1.RunFunctionResponse{}
	if err := protojson.Unmarshal(wantJSON, want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("RunFunction(...): -want %s, +got:\n%s", path, diff)
	}
}

func merge(ms ...observedState) observedState {
	out := observedState{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

const readyCond = `"conditions": [{"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"}]`

func vmsReady(n int, cpus, mem int) observedState {
	o := observedState{}
	for i := range n {
		name := nodeName("orders", i)
		o[string(vmKey(i))] = `{"apiVersion": "compute.m.quorum.dev/v1alpha1", "kind": "VirtualMachine",
			"metadata": {"name": "` + name + `", "namespace": "team-a", "generation": 1},
			"spec": {"forProvider": {"cpus": ` + itoa(cpus) + `, "memoryMiB": ` + itoa(mem) + `, "dataDisks": [{"name": "data", "sizeGiB": 20}], "network": {"network": "VM Network", "ipAddress": "10.77.0.` + itoa(16+i) + `"}}},
			"status": {"atProvider": {"ipAddress": "10.77.0.` + itoa(16+i) + `", "sshHostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI` + itoa(i) + `", "dataDisks": [{"name": "disk0", "sizeGiB": 20, "devicePath": "/dev/disk/by-id/wwn-0x600` + itoa(i) + `"}]}, ` + readyCond + `}}`
	}
	return o
}

func nodesReady(n int, version string) observedState {
	o := observedState{}
	for i := range n {
		role := "replica"
		if i == 0 {
			role = "primary"
		}
		o[string(nodeKey(i))] = `{"apiVersion": "db.m.quorum.dev/v1alpha1", "kind": "DatabaseNode",
			"metadata": {"name": "` + nodeName("orders", i) + `", "namespace": "team-a", "generation": 1},
			"spec": {"forProvider": {"version": "` + version + `"}},
			"status": {"atProvider": {"role": "` + role + `"}, ` + readyCond + `}}`
	}
	return o
}

func usersReady() observedState {
	return observedState{
		"user-app":     `{"apiVersion": "db.m.quorum.dev/v1alpha1", "kind": "User", "metadata": {"name": "orders-app", "generation": 1}, "status": {` + readyCond + `}}`,
		"database-app": `{"apiVersion": "db.m.quorum.dev/v1alpha1", "kind": "Database", "metadata": {"name": "orders-db-app", "generation": 1}, "status": {` + readyCond + `}}`,
	}
}

func secretObserved() observedState {
	return observedState{"connection-secret": `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "orders-connection", "namespace": "team-a"}}`}
}

func itoa(i int) string { return string(structpbNumber(i)) }

func structpbNumber(i int) []byte {
	b, _ := structpb.NewNumberValue(float64(i)).MarshalJSON()
	return b
}

// TestNodeProblemInStatus: what a node cannot do reaches the XDatabase's
// status message, so the app team sees why it is not coming up.
func TestNodeProblemInStatus(t *testing.T) {
	spec := `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere", "restore": {"fromDatabase": "ghost"}}`
	why := "create failed: spec.forProvider.restoreFrom.cluster: ghost has no finished backup in its repository (empty): back it up first, or restore from another database"
	observed := merge(vmsReady(1, 2, 4096), observedState{string(nodeKey(0)): `{"apiVersion": "db.m.quorum.dev/v1alpha1", "kind": "DatabaseNode",
		"metadata": {"name": "orders-0", "namespace": "team-a", "generation": 1}, "spec": {"forProvider": {"version": "15"}},
		"status": {"conditions": [{"type": "Synced", "status": "False", "reason": "ReconcileError", "message": "` + why + `", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}`})
	got := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: observed.state(spec)})
	msg := got.GetDesired().GetComposite().GetResource().GetFields()["status"].GetStructValue().GetFields()["message"].GetStringValue()
	if diff := cmp.Diff("0 of 1 postgresql nodes ready; orders-0: "+why, msg); diff != "" {
		t.Errorf("status message (-want, +got):\n%s", diff)
	}
}

// TestVMProblemInStatus: a VM the provider cannot give an address says so
// in the XDatabase's status.
func TestVMProblemInStatus(t *testing.T) {
	spec := `{"engine": "postgresql", "version": "15", "tier": "dev", "size": "small", "storageGB": 20, "platform": "vsphere"}`
	why := "address range exhausted: every address from 10.77.0.16 to 10.77.0.31 on network VM Network is held: widen the range or delete unused VMs"
	observed := observedState{string(vmKey(0)): `{"apiVersion": "compute.m.quorum.dev/v1alpha1", "kind": "VirtualMachine",
		"metadata": {"name": "orders-0", "namespace": "team-a", "generation": 1}, "spec": {"forProvider": {"cpus": 2}},
		"status": {"conditions": [{"type": "Synced", "status": "False", "reason": "ReconcileError", "message": "` + why + `", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}`}
	got := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: observed.state(spec)})
	msg := got.GetDesired().GetComposite().GetResource().GetFields()["status"].GetStructValue().GetFields()["message"].GetStringValue()
	if diff := cmp.Diff("0 of 1 virtual machines ready; orders-0: "+why, msg); diff != "" {
		t.Errorf("status message (-want, +got):\n%s", diff)
	}
}

// TestProtectionLabels: every resource of a protected XDatabase carries
// the label the provider refuses deletion by; an unprotected one's none.
func TestProtectionLabels(t *testing.T) {
	for _, protected := range []bool{true, false} {
		spec := `{"engine": "postgresql", "version": "15", "tier": "ha", "size": "small", "storageGB": 20, "platform": "vsphere", "deletionProtection": ` + strconv.FormatBool(protected) + `}`
		observed := merge(vmsReady(3, 2, 4096), nodesReady(3, "15"), usersReady())
		got := run(t, &fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput), Observed: observed.state(spec)})
		if len(got.GetDesired().GetResources()) < 8 {
			t.Fatalf("only %d resources composed", len(got.GetDesired().GetResources()))
		}
		for name, r := range got.GetDesired().GetResources() {
			l := r.GetResource().GetFields()["metadata"].GetStructValue().GetFields()["labels"].GetStructValue().GetFields()
			if has := l[dbv1alpha1.LabelDeletionProtection].GetStringValue() == "true"; has != protected {
				t.Errorf("protected %v: %s labelled %v", protected, name, has)
			}
		}
	}
}
