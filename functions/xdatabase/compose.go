package xdatabase

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	"github.com/crossplane/function-sdk-go/errors"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/platform"
	"github.com/quorumdb/quorum/internal/connstr"
)

// Labels the function puts on everything it composes.
const (
	LabelDatabase = "quorum.dev/database"
	LabelRole     = "quorum.dev/component"
	// PlatformLabelDatabase tags each VM on its platform with its database:
	// a key Azure (no "/") and GCP (lowercase, digits, "-", "_") accept.
	PlatformLabelDatabase = "quorum-database"
)

// compose fills desired with the XDatabase's resources and returns its status.
// Resources appear in dependency order: a DatabaseNode once its VM is ready,
// users, databases and backups once the cluster is, the app's Secret once its
// user's credentials exist. Anything already observed is always kept, so a
// resource never disappears because a dependency is momentarily unready.
func (p *plan) compose(desired map[resource.Name]*fnv1.Resource) (Status, error) {
	st := Status{Port: p.engine.Port}
	addressed := !slices.Contains(p.addresses, "")
	if addressed {
		st.Addresses = p.addresses
	}
	roll := p.rollout()

	vmsReady, nodesReady := 0, 0
	for i := range p.tier.Nodes {
		vm, err := p.virtualMachine(i, roll.vm[i])
		if err != nil {
			return st, errors.Wrapf(err, "cannot compose VirtualMachine %s", nodeName(p.name, i))
		}
		vmReady := p.set(desired, vmKey(i), vm)
		if vmReady {
			vmsReady++
		}
		m := Member{Name: nodeName(p.name, i), Address: p.addresses[i]}
		// A node needs every member's address: it waits for all VMs to
		// have theirs.
		if (vmReady && addressed) || p.exists(nodeKey(i)) {
			node, err := p.databaseNode(i, roll.node[i])
			if err != nil {
				return st, errors.Wrapf(err, "cannot compose DatabaseNode %s", nodeName(p.name, i))
			}
			m.Ready = p.set(desired, nodeKey(i), node)
			m.Role = p.role(i)
			if m.Ready {
				nodesReady++
			}
			if m.Role == "primary" {
				st.Primary, st.Endpoint = m.Name, m.Address
			}
		}
		st.Members = append(st.Members, m)
	}
	clusterReady := nodesReady == p.tier.Nodes && st.Primary != ""

	usersReady := 0
	for _, u := range p.spec.Users {
		if !clusterReady && !p.exists(userKey(u.Name)) {
			continue
		}
		o, err := p.user(u)
		if err != nil {
			return st, err
		}
		if p.set(desired, userKey(u.Name), o) {
			usersReady++
		}
	}
	dbsReady := 0
	for _, d := range p.spec.Databases {
		if !clusterReady && !p.exists(databaseKey(d.Name)) {
			continue
		}
		o, err := p.database(d)
		if err != nil {
			return st, err
		}
		if p.set(desired, databaseKey(d.Name), o) {
			dbsReady++
		}
	}
	if p.tier.Backups && (clusterReady || p.exists(backupKey)) {
		o, err := p.backup()
		if err != nil {
			return st, err
		}
		p.set(desired, backupKey, o)
	}
	if sec := p.connectionSecret(st); sec != nil {
		o, err := p.from(sec, "v1", "Secret")
		if err != nil {
			return st, err
		}
		// A Secret has no Ready condition: it is ready once it exists.
		desired[secretKey] = &fnv1.Resource{Resource: o, Ready: readyIf(p.exists(secretKey))}
		st.ConnectionSecret = sec.Name
	}

	switch {
	case vmsReady < p.tier.Nodes && nodesReady == 0:
		st.Phase, st.Message = PhaseProvisioning, fmt.Sprintf("%d of %d virtual machines ready", vmsReady, p.tier.Nodes)
		if why := p.nodeProblem(); why != "" {
			st.Message += "; " + why
		}
	case !clusterReady && !roll.active:
		st.Phase, st.Message = PhaseInstalling, fmt.Sprintf("%d of %d %s nodes ready", nodesReady, p.tier.Nodes, p.engine.Name)
		if why := p.nodeProblem(); why != "" {
			st.Message += "; " + why
		}
	case roll.active:
		st.Phase, st.Message = PhaseUpdating, roll.message
	case usersReady < len(p.spec.Users) || dbsReady < len(p.spec.Databases):
		st.Phase, st.Message = PhaseConfiguring, fmt.Sprintf("%d of %d users and %d of %d databases ready", usersReady, len(p.spec.Users), dbsReady, len(p.spec.Databases))
	case st.ConnectionSecret == "" || !p.exists(secretKey):
		st.Phase, st.Message = PhaseConfiguring, "writing the connection Secret"
	default:
		st.Phase, st.Message = PhaseAvailable, fmt.Sprintf("%s %s %s on %s: %d of %d nodes ready, primary %s", p.engine.Name, p.spec.Version, p.spec.Tier, p.spec.Platform, nodesReady, p.tier.Nodes, st.Primary)
	}
	return st, nil
}

// Keys of composed resources in the pipeline.
func vmKey(i int) resource.Name          { return resource.Name(fmt.Sprintf("vm-%d", i)) }
func nodeKey(i int) resource.Name        { return resource.Name(fmt.Sprintf("node-%d", i)) }
func userKey(n string) resource.Name     { return resource.Name("user-" + n) }
func databaseKey(n string) resource.Name { return resource.Name("database-" + n) }

const (
	backupKey resource.Name = "backup-schedule"
	secretKey resource.Name = "connection-secret"
)

func (p *plan) exists(k resource.Name) bool { _, ok := p.observed[k]; return ok }

// ready reports whether an observed managed resource is Ready for its
// current generation, so a just-changed resource is not taken for done.
// It reads the condition in place: the SDK's GetCondition round-trips the
// whole status through JSON, which dominated the function's latency.
func (p *plan) ready(k resource.Name) bool {
	if r, ok := p.readyCache[k]; ok {
		return r
	}
	r := false
	if o, ok := p.observed[k]; ok {
		for _, c := range o.list("status", "conditions") {
			if value(c, "type").GetStringValue() != string(xpv2.TypeReady) || value(c, "status").GetStringValue() != string(corev1.ConditionTrue) {
				continue
			}
			gen := int64(value(c, "observedGeneration").GetNumberValue())
			r = gen == 0 || gen == o.num("metadata", "generation")
		}
	}
	p.readyCache[k] = r
	return r
}

// role is the node's role as its DatabaseNode reports it.
func (p *plan) role(i int) string {
	o, ok := p.observed[nodeKey(i)]
	if !ok {
		return ""
	}
	return o.str("status", "atProvider", "role")
}

// set adds a composed resource and marks it ready from observed state.
func (p *plan) set(desired map[resource.Name]*fnv1.Resource, k resource.Name, o *structpb.Struct) bool {
	r := p.ready(k)
	desired[k] = &fnv1.Resource{Resource: o, Ready: readyIf(r)}
	return r
}

func readyIf(b bool) fnv1.Ready {
	if b {
		return fnv1.Ready_READY_TRUE
	}
	return fnv1.Ready_READY_FALSE
}

func (p *plan) meta(name, component string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:      name,
		Namespace: p.namespace,
		Labels:    map[string]string{LabelDatabase: p.name, LabelRole: component},
	}
	if p.spec.DeletionProtection {
		// The provider refuses to delete what a protected database is
		// made of, and marks its namespace (internal/protection).
		m.Labels[dbv1alpha1.LabelDeletionProtection] = "true"
	}
	return m
}

func (p *plan) managed() xpv2.ManagedResourceSpec {
	return xpv2.ManagedResourceSpec{ProviderConfigReference: &xpv2.ProviderConfigReference{Kind: "ClusterProviderConfig", Name: p.providerConfig}}
}

func (p *plan) virtualMachine(i int, shape vmShape) (*structpb.Struct, error) {
	pool := p.pool
	prefix := 0
	if _, bits, ok := strings.Cut(pool.CIDR, "/"); ok {
		_, _ = fmt.Sscanf(bits, "%d", &prefix)
	}
	spec := p.managed()
	spec.WriteConnectionSecretToReference = &xpv2.LocalSecretReference{Name: nodeName(p.name, i) + "-ssh"}
	vm := &computev1alpha1.VirtualMachine{
		ObjectMeta: p.meta(nodeName(p.name, i), "vm"),
		Spec: computev1alpha1.VirtualMachineSpec{
			ManagedResourceSpec: spec,
			ForProvider: computev1alpha1.VirtualMachineParameters{
				CPUs:      shape.CPUs,
				MemoryMiB: shape.MemoryMiB,
				OSDiskGiB: p.size.OSDiskGiB,
				DataDisks: []computev1alpha1.Disk{{Name: "data", SizeGiB: shape.DiskGiB}},
				Network: computev1alpha1.NetworkInterface{
					Network: pool.Network, IPAddress: p.addresses[i], PrefixLength: int32(prefix), Gateway: pool.Gateway,
				},
				PowerState: computev1alpha1.PowerOn,
			},
		},
	}
	if pool.First != "" && p.addresses[i] == "" {
		// The provider leases the first free address of the pool and
		// writes it to ipAddress.
		vm.Spec.ForProvider.Network.AddressRange = &computev1alpha1.AddressRange{First: pool.First, Last: pool.Last}
	}
	if vm.Spec.ForProvider.OSDiskGiB == 0 {
		vm.Spec.ForProvider.OSDiskGiB = 20
	}
	size := p.size
	size.CPUs, size.MemoryMiB = shape.CPUs, shape.MemoryMiB
	if shape.InstanceType != "" {
		size.InstanceType = shape.InstanceType
	}
	if err := p.place(&vm.Spec.ForProvider, p.in, platform.Node{Index: i, Size: size, AntiAffinity: p.tier.AntiAffinity, Labels: map[string]string{PlatformLabelDatabase: p.name}}); err != nil {
		return nil, err
	}
	return p.from(vm, computev1alpha1.VirtualMachineGroupVersionKind.GroupVersion().String(), computev1alpha1.VirtualMachineKind)
}

func (p *plan) members() []dbv1alpha1.Member {
	m := make([]dbv1alpha1.Member, p.tier.Nodes)
	for i := range m {
		m[i] = dbv1alpha1.Member{Name: nodeName(p.name, i), Address: p.addresses[i]}
	}
	return m
}

func (p *plan) databaseNode(i int, n nodeShape) (*structpb.Struct, error) {
	role := "replica"
	if i == 0 {
		role = "primary"
	}
	hostKey, device := "", ""
	if o, ok := p.observed[vmKey(i)]; ok {
		hostKey = o.str("status", "atProvider", "sshHostKey")
		if d := o.list("status", "atProvider", "dataDisks"); len(d) > 0 {
			device = d[0].GetStructValue().GetFields()["devicePath"].GetStringValue()
		}
	}
	if device == "" {
		// Once a node has its disk, it keeps it: a VM observed without
		// its disks for a moment must not move the data to the OS disk.
		if o, ok := p.observed[nodeKey(i)]; ok {
			device = o.str("spec", "forProvider", "dataDisk", "devicePath")
		}
	}
	spec := p.managed()
	if i == 0 {
		// The first node publishes the cluster's admin connection for the
		// Users, Databases and Backups that follow.
		spec.WriteConnectionSecretToReference = &xpv2.LocalSecretReference{Name: p.name + "-admin"}
	}
	params := dbv1alpha1.DatabaseNodeParameters{
		Engine:  dbv1alpha1.Engine(p.engine.Name),
		Version: n.Version,
		Host:    p.addresses[i],
		SSH: dbv1alpha1.SSHConnection{
			Port:                22,
			User:                "root",
			PrivateKeySecretRef: dbv1alpha1.SecretKeySelector{Name: nodeName(p.name, i) + "-ssh", Key: "privateKey"},
			HostKey:             hostKey,
		},
		Port: p.engine.Port,
		Cluster: dbv1alpha1.ClusterMembership{
			Name: p.name, Members: p.members(), BootstrapRole: role, Replication: p.tier.Replication,
		},
		CPUs:                   n.CPUs,
		MemoryMiB:              n.MemoryMiB,
		Parameters:             p.spec.Parameters,
		AdminPasswordSecretRef: dbv1alpha1.SecretKeySelector{Name: p.name + "-admin-password", Key: "password"},
		TLS:                    &dbv1alpha1.NodeTLS{CASecretRef: dbv1alpha1.LocalSecretReference{Name: p.name + "-ca"}},
		DataDisk:               dataDisk(device),
		SwitchoverTo:           n.SwitchoverTo,
		RestartRequest:         n.RestartRequest,
	}
	if p.tier.Backups {
		params.Backup = p.backupRepository(p.name, p.incarnationDir())
		params.Backup.RetentionDays = p.spec.Backup.RetentionDays
		params.Backup.SkipFinalBackup = p.spec.SkipFinalBackup
	}
	if r := p.spec.Restore; r != nil {
		// The source's repository is where the function put it when it
		// composed the source, so a deleted source is still found.
		params.RestoreFrom = &dbv1alpha1.RestoreSource{Cluster: r.FromDatabase, Repository: *p.backupRepository(r.FromDatabase, ""), Backup: r.Backup, PointInTime: p.restoreTime}
	}
	node := &dbv1alpha1.DatabaseNode{
		ObjectMeta: p.meta(nodeName(p.name, i), "node"),
		Spec:       dbv1alpha1.DatabaseNodeSpec{ManagedResourceSpec: spec, ForProvider: params},
	}
	return p.from(node, dbv1alpha1.SchemeGroupVersion.String(), dbv1alpha1.DatabaseNodeKind)
}

// nodeProblem is the first node's reason for failing to sync, if any:
// what the provider says it cannot do (a restore it cannot serve, a data
// disk it refuses), so the XDatabase's status says why it is not coming up.
func (p *plan) nodeProblem() string {
	for i := range p.tier.Nodes {
		// A VM's problem first (an exhausted address range, a name the
		// platform refuses): its node waits for it.
		for _, k := range []resource.Name{vmKey(i), nodeKey(i)} {
			o, ok := p.observed[k]
			if !ok {
				continue
			}
			for _, c := range o.list("status", "conditions") {
				f := c.GetStructValue().GetFields()
				if f["type"].GetStringValue() == "Synced" && f["status"].GetStringValue() == "False" {
					return nodeName(p.name, i) + ": " + f["message"].GetStringValue()
				}
			}
		}
	}
	return ""
}

// dataDisk is the node's data disk at the device its VM reports, if any.
func dataDisk(device string) *dbv1alpha1.DataDisk {
	if device == "" {
		return nil
	}
	return &dbv1alpha1.DataDisk{DevicePath: device}
}

// incarnationDir is the last segment of this XDatabase's own repository
// path, for engines whose repositories are bound to one cluster: its UID.
func (p *plan) incarnationDir() string {
	if !p.engine.RepositoryPerIncarnation || p.incarnation == "" {
		return ""
	}
	return "/" + p.incarnation
}

// backupRepository is where the backups of the XDatabase named name, in
// this namespace, go: <path>/<namespace>/<name>, then incarnation (empty,
// or "/" and a segment). A restore names the source without incarnation:
// the provider finds the source's repositories under it.
func (p *plan) backupRepository(name, incarnation string) *dbv1alpha1.BackupRepository {
	// Present: newPlan refuses a database with backups on a platform
	// without a repository.
	r := p.in.BackupRepository[p.spec.Platform]
	base := r.Path
	if (r.Type == "filesystem" || r.Type == "") && base == "" {
		// Relative: the provider takes it under the node's base directory.
		base = "backup"
	}
	out := &dbv1alpha1.BackupRepository{Type: cmp.Or(r.Type, "filesystem"), Path: base + "/" + p.namespace + "/" + name + incarnation, Bucket: r.Bucket, Endpoint: r.Endpoint, Region: r.Region}
	if r.CredentialsSecretName != "" {
		out.CredentialsSecretRef = &dbv1alpha1.RepositoryCredentialsReference{Name: r.CredentialsSecretName, Namespace: r.CredentialsSecretNamespace}
	}
	return out
}

func (p *plan) admin() dbv1alpha1.AdminConnection {
	return dbv1alpha1.AdminConnection{SecretRef: dbv1alpha1.LocalSecretReference{Name: p.name + "-admin"}}
}

func dnsName(s string) string { return strings.ReplaceAll(s, "_", "-") }

func (p *plan) user(u UserSpec) (*structpb.Struct, error) {
	grants := make([]dbv1alpha1.Grant, len(u.Grants))
	for i, g := range u.Grants {
		grants[i] = dbv1alpha1.Grant{Database: g.Database, Privilege: g.Privilege}
	}
	spec := p.managed()
	spec.WriteConnectionSecretToReference = &xpv2.LocalSecretReference{Name: p.name + "-user-" + dnsName(u.Name)}
	o := &dbv1alpha1.User{
		ObjectMeta: p.meta(p.name+"-"+dnsName(u.Name), "user"),
		Spec: dbv1alpha1.UserSpec{ManagedResourceSpec: spec, ForProvider: dbv1alpha1.UserParameters{
			Admin: p.admin(), Name: u.Name, Grants: grants,
		}},
	}
	return p.from(o, dbv1alpha1.SchemeGroupVersion.String(), dbv1alpha1.UserKind)
}

func (p *plan) database(d DatabaseSpec) (*structpb.Struct, error) {
	spec := p.managed()
	// A database removed from spec.databases is left in the cluster with
	// its data, never dropped: no Delete among its management policies.
	// (When the whole XDatabase goes, it goes with the cluster, after the
	// final backup.)
	spec.ManagementPolicies = xpv2.ManagementPolicies{xpv2.ManagementActionObserve, xpv2.ManagementActionCreate, xpv2.ManagementActionUpdate, xpv2.ManagementActionLateInitialize}
	o := &dbv1alpha1.Database{
		ObjectMeta: p.meta(p.name+"-db-"+dnsName(d.Name), "database"),
		Spec: dbv1alpha1.DatabaseSpec{ManagedResourceSpec: spec, ForProvider: dbv1alpha1.DatabaseParameters{
			Admin: p.admin(), Name: d.Name, Owner: d.Owner,
		}},
	}
	return p.from(o, dbv1alpha1.SchemeGroupVersion.String(), dbv1alpha1.DatabaseKind)
}

func (p *plan) backup() (*structpb.Struct, error) {
	refs := make([]dbv1alpha1.LocalReference, p.tier.Nodes)
	for i := range refs {
		refs[i] = dbv1alpha1.LocalReference{Name: nodeName(p.name, i)}
	}
	o := &dbv1alpha1.Backup{
		ObjectMeta: p.meta(p.name+"-scheduled", "backup"),
		Spec: dbv1alpha1.BackupSpec{ManagedResourceSpec: p.managed(), ForProvider: dbv1alpha1.BackupParameters{
			Engine: dbv1alpha1.Engine(p.engine.Name), Cluster: p.name, NodeRefs: refs, Type: "full",
			Schedule: p.spec.Backup.Schedule, RetentionDays: p.spec.Backup.RetentionDays,
		}},
	}
	return p.from(o, dbv1alpha1.SchemeGroupVersion.String(), dbv1alpha1.BackupKind)
}

// connectionSecret is the app's Secret, built from the first user's
// connection details once they exist, with the cluster's endpoint.
func (p *plan) connectionSecret(st Status) *corev1.Secret {
	u := p.spec.Users[0]
	o, ok := p.observed[userKey(u.Name)]
	if !ok || len(o.details["password"]) == 0 {
		return nil
	}
	db := p.spec.Databases[0].Name
	for _, g := range u.Grants {
		db = g.Database
		break
	}
	e := connstr.Endpoint{
		Engine: p.engine.Name, Hosts: p.addresses, Port: p.engine.Port,
		Username: string(o.details["username"]), Password: string(o.details["password"]),
		Database: db, TLS: len(o.details["ca.crt"]) > 0,
	}
	if p.engine.ReplicaSet {
		e.ReplicaSet = p.name
	}
	data := connstr.Details(e)
	if ca := o.details["ca.crt"]; len(ca) > 0 {
		data["ca.crt"] = ca
	}
	if st.Endpoint != "" {
		data["primary"] = []byte(st.Endpoint)
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: p.meta(p.name+"-connection", "connection"),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// from converts a typed object to a composed resource without status, which
// belongs to the provider. It converts by reflection rather than through
// JSON, which is several times faster.
func (p *plan) from(o runtime.Object, apiVersion, kind string) (*structpb.Struct, error) {
	s, err := toStructIn(&p.arena, o)
	if err != nil {
		return nil, err
	}
	delete(s.Fields, "status")
	if md := s.Fields["metadata"].GetStructValue(); md != nil {
		delete(md.Fields, "creationTimestamp")
	}
	s.Fields["apiVersion"], s.Fields["kind"] = p.arena.str(apiVersion), p.arena.str(kind)
	return s, nil
}
