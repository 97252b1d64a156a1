package mongodb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/quorumdb/quorum/internal/engine/host/hosttest"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// No mongod installs here: the node role is tested at the host boundary,
// the exact files written and commands run, in order.

func spec(bootstrap bool) node.Spec {
	return node.Spec{
		Cluster: "orders", Name: "orders-0", Address: "10.0.0.10", Bootstrap: bootstrap, Replication: "sync",
		Members: []node.Member{{Name: "orders-0", Address: "10.0.0.10"}, {Name: "orders-1", Address: "10.0.0.11"}, {Name: "orders-2", Address: "10.0.0.12"}},
		Version: "7.0", MemoryMiB: 4096, BaseDir: "/var/lib/quorum/team/orders/orders-0",
		AdminPassword: "AdminSecret123", ReplicationPassword: "KeyfileSecret456",
	}
}

func TestApplyBootstrapMember(t *testing.T) {
	r, err := NewRole(spec(true))
	if err != nil {
		t.Fatal(err)
	}
	h := hosttest.New()
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	base := "/var/lib/quorum/team/orders/orders-0"
	want := []string{
		"run install packages",
		"run prepare directories",
		"write " + base + "/keyfile 400 mongodb:mongodb",
		"write " + base + "/mongod.conf 644 root:root",
		"run stop mongod for new configuration",
		"run start mongod",
		"run wait for mongod",
		"write " + base + "/init-replica-set.js 600 root:root",
		"run form replica set",
	}
	if diff := cmp.Diff(want, h.Log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	conf := `# Written by Quorum for member orders-0 of replica set orders. Changes are reverted.
storage:
  dbPath: /var/lib/quorum/team/orders/orders-0/data
  wiredTiger:
    engineConfig:
      cacheSizeGB: 1.50
systemLog:
  destination: file
  path: /var/lib/quorum/team/orders/orders-0/log/mongod.log
  logAppend: true
net:
  port: 27017
  bindIp: 127.0.0.1,10.0.0.10
replication:
  replSetName: orders
security:
  authorization: enabled
  keyFile: /var/lib/quorum/team/orders/orders-0/keyfile
`
	if diff := cmp.Diff(conf, string(h.Files[base+"/mongod.conf"])); diff != "" {
		t.Errorf("mongod.conf (-want +got):\n%s", diff)
	}
	if got := string(h.Files[base+"/keyfile"]); got != "KeyfileSecret456\n" {
		t.Errorf("keyfile %q", got)
	}
	script := string(h.Files[base+"/init-replica-set.js"])
	for _, s := range []string{
		`const want = {"_id":"orders","members":[{"_id":0,"host":"10.0.0.10:27017","priority":1},{"_id":1,"host":"10.0.0.11:27017","priority":1},{"_id":2,"host":"10.0.0.12:27017","priority":1}],"settings":{"getLastErrorDefaults":{"w":"majority","wtimeout":0}}};`,
		`const cred = {"pwd":"AdminSecret123","user":"quorum_admin"};`,
		"replSetInitiate: want",
		"roles: [{role: 'root', db: 'admin'}]",
	} {
		if !strings.Contains(script, s) {
			t.Errorf("init script lacks %s", s)
		}
	}
	if got := h.Commands["form replica set"]; got != "mongosh --quiet --norc --port 27017 --file '"+base+"/init-replica-set.js'; rc=$?; rm -f '"+base+"/init-replica-set.js'; exit $rc" {
		t.Errorf("form replica set: %s", got)
	}
	if !strings.Contains(h.Commands["start mongod"], "setpriv --reuid=mongodb --regid=mongodb --init-groups --reset-env -- mongod --config "+base+"/mongod.conf") {
		t.Errorf("start mongod: %s", h.Commands["start mongod"])
	}
	for _, secret := range []string{"AdminSecret123", "KeyfileSecret456"} {
		if h.InCommands(secret) {
			t.Errorf("a secret appears on a command line")
		}
	}

	// A second apply with nothing changed restarts nothing.
	h.Log = nil
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	for _, l := range h.Log {
		if strings.HasPrefix(l, "write") && !strings.HasSuffix(l, "init-replica-set.js 600 root:root") || l == "run stop mongod for new configuration" {
			t.Errorf("second apply: %s", l)
		}
	}
}

func TestApplyOtherMemberDoesNotInitiate(t *testing.T) {
	s := spec(false)
	s.Name, s.Address = "orders-1", "10.0.0.11"
	r, _ := NewRole(s)
	h := hosttest.New()
	if _, err := r.Apply(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Commands["form replica set"]; ok {
		t.Error("a non-bootstrap member formed the replica set")
	}
}

func TestNewRoleRefusesUnknownParameters(t *testing.T) {
	s := spec(true)
	s.Parameters = map[string]string{"security.authorization": "disabled"}
	_, err := NewRole(s)
	if err == nil || !strings.Contains(err.Error(), "spec.forProvider.parameters.security.authorization is not a mongod setting Quorum manages") {
		t.Errorf("got %v", err)
	}
}

func TestDrifted(t *testing.T) {
	r, _ := NewRole(spec(true))
	for _, tc := range []struct{ name, stdout, want string }{
		{"in sync", r.ConfigSum() + "\nmongod-up\n", ""},
		{"config changed", "0000\nmongod-up\n", "mongod.conf or the keyfile differs from the desired configuration"},
		{"stopped", r.ConfigSum() + "\n", "mongod is not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hosttest.New()
			h.Stdout["check drift"] = tc.stdout
			got, err := r.Drifted(context.Background(), h)
			if err != nil || got != tc.want {
				t.Errorf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestStatusFrom(t *testing.T) {
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	raw, _ := bson.Marshal(bson.D{{Key: "term", Value: int64(4)}, {Key: "members", Value: bson.A{
		bson.D{{Key: "name", Value: "10.0.0.10:27017"}, {Key: "stateStr", Value: "SECONDARY"}, {Key: "self", Value: true}, {Key: "optimeDate", Value: now.Add(-1500 * time.Millisecond)}},
		bson.D{{Key: "name", Value: "10.0.0.11:27017"}, {Key: "stateStr", Value: "PRIMARY"}, {Key: "optimeDate", Value: now}},
		bson.D{{Key: "name", Value: "10.0.0.12:27017"}, {Key: "stateStr", Value: "STARTUP2"}, {Key: "optimeDate", Value: now.Add(-time.Hour)}},
	}}})
	got, err := StatusFrom(raw, func() node.Spec { s := spec(true); s.Port = 27017; return s }())
	if err != nil {
		t.Fatal(err)
	}
	want := node.Status{Role: "replica", State: "secondary", Timeline: 4, LagBytes: 1500, Healthy: true, Members: []node.MemberStatus{
		{Name: "orders-0", Role: "replica", State: "secondary", Timeline: 4, LagBytes: 1500},
		{Name: "orders-1", Role: "primary", State: "primary", Timeline: 4},
		{Name: "orders-2", State: "startup2", Timeline: 4},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSwitchoverReconfig(t *testing.T) {
	cfg := bson.M{"_id": "orders", "version": int32(3), "members": bson.A{
		bson.M{"_id": 0, "host": "10.0.0.10:27017", "priority": float64(2)},
		bson.M{"_id": 1, "host": "10.0.0.11:27017", "priority": float64(1)},
	}}
	got := SwitchoverReconfig(cfg, "10.0.0.11:27017")
	want := bson.D{{Key: "replSetReconfig", Value: bson.M{"_id": "orders", "version": int32(4), "members": bson.A{
		bson.M{"_id": 0, "host": "10.0.0.10:27017", "priority": 1},
		bson.M{"_id": 1, "host": "10.0.0.11:27017", "priority": 2},
	}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestInstallScript(t *testing.T) {
	s := spec(true)
	s.Version = "7.0.14"
	r, _ := NewRole(s)
	got := r.(*role).installScript()
	for _, want := range []string{
		"if command -v mongod >/dev/null && command -v mongosh >/dev/null; then exit 0; fi",
		"https://repo.mongodb.org/apt/debian $VERSION_CODENAME/mongodb-org/7.0 main",
		"https://repo.mongodb.org/apt/ubuntu $VERSION_CODENAME/mongodb-org/7.0 multiverse",
		"baseurl=https://repo.mongodb.org/yum/redhat/$releasever/mongodb-org/7.0/$basearch/",
		"apt-get update -q && apt-get install -y -q mongodb-org-server mongodb-mongosh",
		"dnf install -y -q mongodb-org-server mongodb-mongosh",
		"systemctl disable --now mongod",
		`if [ -n "${QUORUM_SHARED_HOST:-}" ]; then`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("install script lacks %q", want)
		}
	}
}

// TestApplyDataDisk: the data disk is mounted at the node's directory
// before anything is written there; a refused disk stops the node.
func TestApplyDataDisk(t *testing.T) {
	s := spec(true)
	s.DataDisk = "/dev/disk/by-id/google-data"
	r, err := NewRole(s)
	if err != nil {
		t.Fatal(err)
	}
	h := hosttest.New()
	h.Fail["prepare data disk"] = errors.New("data disk /dev/disk/by-id/google-data not found on this host")
	if _, err := r.Apply(context.Background(), h); err == nil {
		t.Fatal("Apply went on without its data disk")
	}
	if diff := cmp.Diff([]string{"run install packages", "run prepare data disk"}, h.Log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if c := h.Commands["prepare data disk"]; !strings.Contains(c, "mnt='/var/lib/quorum/team/orders/orders-0'") {
		t.Errorf("data disk not mounted at the node's directory:\n%s", c)
	}
}
