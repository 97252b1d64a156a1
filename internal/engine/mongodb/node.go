package mongodb

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/quorumdb/quorum/internal/engine/disk"
	"github.com/quorumdb/quorum/internal/engine/host"
	"github.com/quorumdb/quorum/internal/engine/node"
)

// AdminUser is the root user the provider creates and administers with.
const AdminUser = "quorum_admin"

// DefaultPort of mongod.
const DefaultPort = 27017

// NewRole is MongoDB's node.Factory: mongod with a keyfile, authorization on,
// and a replica set named after the cluster.
func NewRole(s node.Spec) (node.Role, error) {
	if s.Restore != nil {
		if !s.Restore.Target.IsZero() {
			return nil, fmt.Errorf("spec.forProvider.restoreFrom.pointInTime: MongoDB restores go to the end of a backup (mongodump's oplog); remove pointInTime or name a backup")
		}
		if err := checkRepo("spec.forProvider.restoreFrom.repository", &s.Restore.Repo); err != nil {
			return nil, err
		}
	}
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if len(s.ReplicationPassword) < 6 {
		return nil, fmt.Errorf("the cluster's replication secret is too short for a MongoDB keyfile (at least 6 characters)")
	}
	for k := range s.Parameters {
		if !slices.Contains(allowedParameters, k) {
			return nil, fmt.Errorf("spec.forProvider.parameters.%s is not a mongod setting Quorum manages; allowed: %s", k, strings.Join(allowedParameters, ", "))
		}
	}
	return &role{s: s}, nil
}

// allowedParameters are the mongod settings a spec may set, as dotted paths
// of mongod.conf.
var allowedParameters = []string{"net.maxIncomingConnections", "operationProfiling.slowOpThresholdMs", "storage.wiredTiger.engineConfig.cacheSizeGB"}

type role struct {
	s node.Spec
	// clock names backup sets; time.Now when nil.
	clock func() time.Time
}

func (r *role) dir(p ...string) string { return path.Join(append([]string{r.s.BaseDir}, p...)...) }

func (r *role) AdminUser() string { return AdminUser }

// cacheGB follows MongoDB's own default, 50% of (RAM - 1 GiB), at least
// 0.25 GB, unless a parameter sets it.
func (r *role) cacheGB() string {
	if v, ok := r.s.Parameters["storage.wiredTiger.engineConfig.cacheSizeGB"]; ok {
		return v
	}
	gb := (float64(r.s.MemoryMiB) - 1024) / 2 / 1024
	return strconv.FormatFloat(max(gb, 0.25), 'f', 2, 64)
}

// Config is mongod.conf.
func (r *role) Config() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by Quorum for member %s of replica set %s. Changes are reverted.\n", r.s.Name, r.s.Cluster)
	fmt.Fprintf(&b, "storage:\n  dbPath: %s\n  wiredTiger:\n    engineConfig:\n      cacheSizeGB: %s\n", r.dir("data"), r.cacheGB())
	fmt.Fprintf(&b, "systemLog:\n  destination: file\n  path: %s\n  logAppend: true\n", r.dir("log", "mongod.log"))
	fmt.Fprintf(&b, "net:\n  port: %d\n  bindIp: 127.0.0.1,%s\n", r.s.Port, r.s.Address)
	if v, ok := r.s.Parameters["net.maxIncomingConnections"]; ok {
		fmt.Fprintf(&b, "  maxIncomingConnections: %s\n", v)
	}
	fmt.Fprintf(&b, "replication:\n  replSetName: %s\n", r.s.Cluster)
	fmt.Fprintf(&b, "security:\n  authorization: enabled\n  keyFile: %s\n", r.dir("keyfile"))
	if v, ok := r.s.Parameters["operationProfiling.slowOpThresholdMs"]; ok {
		fmt.Fprintf(&b, "operationProfiling:\n  slowOpThresholdMs: %s\n", v)
	}
	return []byte(b.String())
}

// keyFile authenticates members to each other: the cluster's replication
// secret, identical on every member.
func (r *role) keyFile() []byte { return []byte(r.s.ReplicationPassword + "\n") }

func (r *role) ConfigSum() string {
	h := sha256.New()
	h.Write(r.Config())
	h.Write(r.keyFile())
	return hex.EncodeToString(h.Sum(nil))
}

// ReplicaSetConfig is the replSetInitiate document: members in spec order,
// ids stable, equal priorities (the bootstrap member is primary because it
// initiates; a higher priority would make it take the role back after every
// failover). With sync replication writes are acknowledged by a majority by
// default.
func (r *role) ReplicaSetConfig() bson.D {
	members := bson.A{}
	for i, m := range r.s.Members {
		members = append(members, bson.D{{Key: "_id", Value: i}, {Key: "host", Value: net.JoinHostPort(m.Address, strconv.Itoa(r.s.Port))}, {Key: "priority", Value: 1}})
	}
	cfg := bson.D{{Key: "_id", Value: r.s.Cluster}, {Key: "members", Value: members}}
	if r.s.Replication == "sync" {
		cfg = append(cfg, bson.E{Key: "settings", Value: bson.D{{Key: "getLastErrorDefaults", Value: bson.D{{Key: "w", Value: "majority"}, {Key: "wtimeout", Value: 0}}}}})
	}
	return cfg
}

// initScript forms the replica set and creates the root user, idempotently:
// replSetInitiate only when the set is not initiated, the user through the
// localhost exception only when no user exists, and at most one member added
// or removed per run (MongoDB reconfigures one voting member at a time).
func (r *role) initScript() ([]byte, error) {
	cfg, err := bson.MarshalExtJSON(r.ReplicaSetConfig(), false, false)
	if err != nil {
		return nil, err
	}
	cred, err := json.Marshal(map[string]string{"user": AdminUser, "pwd": r.s.AdminPassword})
	if err != nil {
		return nil, err
	}
	return []byte(`// Written by Quorum, run once by mongosh, then removed.
const want = ` + string(cfg) + `;
const cred = ` + string(cred) + `;
const admin = db.getSiblingDB('admin');
let authed = false;
try { admin.auth(cred.user, cred.pwd); authed = true; } catch (e) { authed = false; }
// hello answers without authentication: no setName means not initiated.
if (!admin.runCommand({hello: 1}).setName) {
  const r = admin.runCommand({replSetInitiate: want});
  if (!r.ok && r.code !== 23 /* AlreadyInitialized */) { throw new Error('replSetInitiate: ' + r.errmsg); }
}
for (let i = 0; i < 600 && !admin.runCommand({hello: 1}).isWritablePrimary; i++) { sleep(100); }
if (!admin.runCommand({hello: 1}).isWritablePrimary) { throw new Error('no primary after 60s'); }
if (!authed) {
  // The localhost exception allows creating the first user.
  admin.createUser({user: cred.user, pwd: cred.pwd, roles: [{role: 'root', db: 'admin'}]});
  admin.auth(cred.user, cred.pwd);
}
const conf = admin.runCommand({replSetGetConfig: 1}).config;
const have = conf.members.map(m => m.host);
const wantHosts = want.members.map(m => m.host);
const add = want.members.find(m => !have.includes(m.host));
const drop = conf.members.find(m => !wantHosts.includes(m.host));
if (add || drop) {
  if (add) { conf.members.push({_id: Math.max(...conf.members.map(m => m._id)) + 1, host: add.host, priority: add.priority}); }
  else { conf.members = conf.members.filter(m => m.host !== drop.host); }
  conf.version += 1;
  const r = admin.runCommand({replSetReconfig: conf});
  if (!r.ok) { throw new Error('replSetReconfig: ' + r.errmsg); }
}
`), nil
}

// series is the MongoDB release series of the spec's version (7.0.12 -> 7.0).
func (r *role) series() string {
	parts := strings.SplitN(r.s.Version, ".", 3)
	if len(parts) < 2 {
		return r.s.Version + ".0"
	}
	return parts[0] + "." + parts[1]
}

// installScript installs mongod and mongosh from MongoDB's own repositories
// (Debian, Ubuntu, RHEL family) when missing; the packaged mongod service
// stays off, the node runs its own.
func (r *role) installScript() string {
	v := r.series()
	return fmt.Sprintf(`set -e
if command -v mongod >/dev/null && command -v mongosh >/dev/null; then exit 0; fi
if [ -n "${QUORUM_SHARED_HOST:-}" ]; then echo "MongoDB %[1]s (mongod and mongosh) not installed, and this host shares its binaries (/usr) with other hosts (local datacenter): install it on the machine itself" >&2; exit 1; fi
. /etc/os-release
case " $ID $ID_LIKE " in
  *" debian "*|*" ubuntu "*)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends curl gnupg ca-certificates
    key=$(mktemp); trap 'rm -f "$key"' EXIT
    curl -fsSL -o "$key" https://pgp.mongodb.com/server-%[1]s.asc
    gpg --dearmor --yes -o /usr/share/keyrings/mongodb-server-%[1]s.gpg "$key"
    case "$ID" in
      ubuntu) echo "deb [ signed-by=/usr/share/keyrings/mongodb-server-%[1]s.gpg ] https://repo.mongodb.org/apt/ubuntu $VERSION_CODENAME/mongodb-org/%[1]s multiverse" ;;
      *) echo "deb [ signed-by=/usr/share/keyrings/mongodb-server-%[1]s.gpg ] https://repo.mongodb.org/apt/debian $VERSION_CODENAME/mongodb-org/%[1]s main" ;;
    esac > /etc/apt/sources.list.d/mongodb-org-%[1]s.list
    apt-get update -q && apt-get install -y -q mongodb-org-server mongodb-mongosh ;;
  *" rhel "*|*" fedora "*|*" centos "*)
    printf '[mongodb-org-%[1]s]
name=MongoDB %[1]s
baseurl=https://repo.mongodb.org/yum/redhat/$releasever/mongodb-org/%[1]s/$basearch/
gpgcheck=1
enabled=1
gpgkey=https://pgp.mongodb.com/server-%[1]s.asc
' > /etc/yum.repos.d/mongodb-org-%[1]s.repo
    dnf install -y -q mongodb-org-server mongodb-mongosh ;;
  *) echo "cannot install MongoDB on $ID: install mongodb-org-server and mongodb-mongosh %[1]s, then retry" >&2; exit 1 ;;
esac
systemctl disable --now mongod 2>/dev/null || true`, v)
}

// Apply installs the node: binaries checked, directories, keyfile and
// mongod.conf (only rewritten when they differ), mongod started, and on the
// bootstrap member the replica set formed and the root user created.
func (r *role) Apply(ctx context.Context, h host.Host) (map[string][]byte, error) {
	pid := r.dir("pids", "mongod.pid")
	if _, err := h.Run(ctx, "install packages", r.installScript()); err != nil {
		return nil, err
	}
	if err := disk.Prepare(ctx, h, r.s.DataDisk, r.s.BaseDir); err != nil {
		return nil, err
	}
	steps := []struct{ name, cmd string }{
		{"prepare directories", fmt.Sprintf("set -e; mkdir -p %s %s %s; chown -R mongodb:mongodb %s; chown root:root %s",
			host.Quote(r.dir("data")), host.Quote(r.dir("log")), host.Quote(r.dir("pids")), host.Quote(r.s.BaseDir), host.Quote(r.dir("pids")))},
	}
	for _, s := range steps {
		if _, err := h.Run(ctx, s.name, s.cmd); err != nil {
			return nil, err
		}
	}
	// The store's key and CA, kept current here (not on every read of the
	// repository); a backup writes them again before it starts.
	if err := r.writeStoreFiles(ctx, h, r.s.Backup, ""); err != nil {
		return nil, err
	}
	keyChanged, err := h.WriteFile(ctx, r.dir("keyfile"), r.keyFile(), 0o400, "mongodb:mongodb")
	if err != nil {
		return nil, err
	}
	confChanged, err := h.WriteFile(ctx, r.dir("mongod.conf"), r.Config(), 0o644, "root:root")
	if err != nil {
		return nil, err
	}
	if keyChanged || confChanged {
		// mongod reads both only at start.
		if _, err := h.Run(ctx, "stop mongod for new configuration", host.Stop(pid)); err != nil {
			return nil, err
		}
	}
	if err := r.start(ctx, h); err != nil {
		return nil, err
	}
	if !r.s.Bootstrap {
		return nil, nil
	}
	script, err := r.initScript()
	if err != nil {
		return nil, err
	}
	// The script holds the root password: a root-only file, removed after
	// the run, never a command-line argument.
	f := r.dir("init-replica-set.js")
	if _, err := h.WriteFile(ctx, f, script, 0o600, "root:root"); err != nil {
		return nil, err
	}
	if _, err := h.Run(ctx, "form replica set", fmt.Sprintf("mongosh --quiet --norc --port %d --file %s; rc=$?; rm -f %s; exit $rc", r.s.Port, host.Quote(f), host.Quote(f))); err != nil {
		return nil, err
	}
	if r.s.Restore != nil {
		if err := r.writeStoreFiles(ctx, h, &r.s.Restore.Repo, "restore-"); err != nil {
			return nil, err
		}
		if err := r.writeToolConfig(ctx, h); err != nil {
			return nil, err
		}
		if _, err := h.Run(ctx, "restore from backup", r.RestoreScript()); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// start starts mongod unless it runs, and waits until it answers.
func (r *role) start(ctx context.Context, h host.Host) error {
	if _, err := h.Run(ctx, "start mongod", host.Start(r.dir("pids", "mongod.pid"), "mongodb", r.dir("log", "mongod.out"), "mongod --config "+r.dir("mongod.conf"))); err != nil {
		return err
	}
	_, err := h.Run(ctx, "wait for mongod", fmt.Sprintf("for i in $(seq 1 300); do mongosh --quiet --norc --port %d --eval 'db.runCommand({ping: 1}).ok' >/dev/null 2>&1 && exit 0; sleep 0.1; done; echo 'mongod does not answer on port %d; see %s' >&2; exit 1",
		r.s.Port, r.s.Port, r.dir("log", "mongod.log")))
	return err
}

// Restart stops mongod cleanly and starts it again.
func (r *role) Restart(ctx context.Context, h host.Host) error {
	if _, err := h.Run(ctx, "stop mongod for a restart", host.Stop(r.dir("pids", "mongod.pid"))); err != nil {
		return err
	}
	return r.start(ctx, h)
}

// Drifted compares mongod.conf and the keyfile with the spec and checks
// that mongod runs.
func (r *role) Drifted(ctx context.Context, h host.Host) (string, error) {
	check := ""
	if r.s.DataDisk != "" {
		check = disk.Check(r.s.DataDisk, r.s.BaseDir) + ";"
	}
	st, err := h.Run(ctx, "check drift", fmt.Sprintf("cat %s %s 2>/dev/null | sha256sum | cut -d' ' -f1; %s && echo mongod-up; %s true",
		host.Quote(r.dir("mongod.conf")), host.Quote(r.dir("keyfile")), host.Alive(r.dir("pids", "mongod.pid")), check))
	if err != nil {
		return "", err
	}
	lines := strings.Fields(st.Stdout)
	if d := disk.Drift(r.s.DataDisk, lines); d != "" {
		return d, nil
	}
	switch {
	case len(lines) == 0 || lines[0] != r.ConfigSum():
		return "mongod.conf or the keyfile differs from the desired configuration", nil
	case !slices.Contains(lines, "mongod-up"):
		return "mongod is not running", nil
	}
	return "", nil
}

// Stop stops mongod, keeping its data.
func (r *role) Stop(ctx context.Context, h host.Host) error {
	_, err := h.Run(ctx, "stop services", host.Stop(r.dir("pids", "mongod.pid")))
	return err
}

func (r *role) client() (*mongo.Client, error) {
	return mongo.Connect(options.Client().SetHosts([]string{net.JoinHostPort(r.s.Address, strconv.Itoa(r.s.Port))}).SetDirect(true).
		SetAuth(options.Credential{Username: AdminUser, Password: r.s.AdminPassword, AuthSource: authDB}).
		SetConnectTimeout(2 * time.Second).SetServerSelectionTimeout(2 * time.Second))
}

// Observe reads replSetGetStatus from the node itself.
func (r *role) Observe(ctx context.Context) (node.Status, error) {
	c, err := r.client()
	if err != nil {
		return node.Status{}, err
	}
	defer func() { _ = c.Disconnect(ctx) }()
	var raw bson.Raw
	if err := c.Database(authDB).RunCommand(ctx, bson.D{{Key: "replSetGetStatus", Value: 1}}).Decode(&raw); err != nil {
		return node.Status{}, fmt.Errorf("cannot read the replica set status of %s: %w", r.s.Address, err)
	}
	return StatusFrom(raw, r.s)
}

type rsStatus struct {
	Members []struct {
		Name     string    `bson:"name"`
		StateStr string    `bson:"stateStr"`
		Self     bool      `bson:"self"`
		Optime   time.Time `bson:"optimeDate"`
	} `bson:"members"`
	Term int64 `bson:"term"`
}

// StatusFrom turns a replSetGetStatus reply into a node status: roles,
// states, the term as timeline, and each member's lag behind the primary
// as seconds of oplog (MongoDB does not report bytes; LagBytes carries
// milliseconds for MongoDB).
func StatusFrom(raw bson.Raw, s node.Spec) (node.Status, error) {
	var st rsStatus
	if err := bson.Unmarshal(raw, &st); err != nil {
		return node.Status{}, fmt.Errorf("cannot decode replSetGetStatus: %w", err)
	}
	names := map[string]string{}
	for _, m := range s.Members {
		names[net.JoinHostPort(m.Address, strconv.Itoa(s.Port))] = m.Name
	}
	var primary time.Time
	for _, m := range st.Members {
		if m.StateStr == "PRIMARY" {
			primary = m.Optime
		}
	}
	out := node.Status{Timeline: st.Term}
	for _, m := range st.Members {
		role := map[string]string{"PRIMARY": "primary", "SECONDARY": "replica"}[m.StateStr]
		ms := node.MemberStatus{Name: cmp.Or(names[m.Name], m.Name), Role: role, State: strings.ToLower(m.StateStr), Timeline: st.Term}
		if !primary.IsZero() && role == "replica" {
			ms.LagBytes = primary.Sub(m.Optime).Milliseconds()
		}
		if m.Self {
			out.Role, out.State, out.LagBytes = role, ms.State, ms.LagBytes
			out.Healthy = role != ""
		}
		out.Members = append(out.Members, ms)
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].Name < out.Members[j].Name })
	return out, nil
}

// Switchover steps the primary down after making the target the most
// eligible member: replSetStepDown lets an electable secondary win, and the
// target's raised priority makes it that one.
func (r *role) Switchover(ctx context.Context, to string) error {
	c, err := r.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Disconnect(ctx) }()
	admin := c.Database(authDB)
	var cur struct {
		Config bson.M `bson:"config"`
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "replSetGetConfig", Value: 1}}).Decode(&cur); err != nil {
		return fmt.Errorf("cannot read the replica set configuration: %w", err)
	}
	target := ""
	for _, m := range r.s.Members {
		if m.Name == to {
			target = net.JoinHostPort(m.Address, strconv.Itoa(r.s.Port))
		}
	}
	if target == "" {
		return fmt.Errorf("spec.forProvider.switchoverTo %q is not a member", to)
	}
	if err := admin.RunCommand(ctx, SwitchoverReconfig(cur.Config, target)).Err(); err != nil {
		return fmt.Errorf("cannot raise %s's priority: %w", to, err)
	}
	err = admin.RunCommand(ctx, bson.D{{Key: "replSetStepDown", Value: 60}, {Key: "secondaryCatchUpPeriodSecs", Value: 30}}).Err()
	if err != nil && !mongo.IsNetworkError(err) { // the primary drops connections as it steps down
		return fmt.Errorf("replSetStepDown: %w", err)
	}
	return nil
}

// SwitchoverReconfig gives the target member priority 2 and every other
// member 1, and bumps the configuration version: the target is elected and
// stays preferred, as the switchover asked.
func SwitchoverReconfig(cfg bson.M, target string) bson.D {
	members, _ := cfg["members"].(bson.A)
	for _, m := range members {
		if d, ok := m.(bson.M); ok {
			if d["host"] == target {
				d["priority"] = 2
			} else {
				d["priority"] = 1
			}
		}
	}
	switch v := cfg["version"].(type) {
	case int32:
		cfg["version"] = v + 1
	case int64:
		cfg["version"] = v + 1
	case float64:
		cfg["version"] = v + 1
	}
	return bson.D{{Key: "replSetReconfig", Value: cfg}}
}
