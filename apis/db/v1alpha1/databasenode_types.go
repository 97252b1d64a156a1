package v1alpha1

import (
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SSHConnection says how the provider reaches the node's host.
type SSHConnection struct {
	// Port of sshd on the host.
	// +optional
	// +kubebuilder:default=22
	Port int32 `json:"port,omitempty"`

	// User to log in as; it must be root or have password-less sudo.
	// +optional
	// +kubebuilder:default=root
	User string `json:"user,omitempty"`

	// PrivateKeySecretRef is the key the provider logs in with.
	PrivateKeySecretRef SecretKeySelector `json:"privateKeySecretRef"`

	// HostKey pins the host's public key in authorized_keys format
	// ("ssh-ed25519 AAAA..."). A host presenting another key is refused.
	HostKey string `json:"hostKey"`
}

// Member is one node of a database cluster.
type Member struct {
	// Name of the member, unique in the cluster.
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Address the other members and clients reach it at.
	// +kubebuilder:validation:MaxLength=253
	Address string `json:"address"`
}

// ClusterMembership places the node in its cluster.
type ClusterMembership struct {
	// Name of the cluster (Patroni scope, replica set name, availability group).
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Name string `json:"name"`

	// Members of the cluster, this node included.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=9
	Members []Member `json:"members"`

	// BootstrapRole is the role the node takes when the cluster is first
	// formed. Afterwards the cluster elects its primary itself.
	// +kubebuilder:validation:Enum=primary;replica
	BootstrapRole string `json:"bootstrapRole"`

	// Replication between members: async, or sync where the tier promises
	// zero loss of acknowledged commits.
	// +optional
	// +kubebuilder:validation:Enum=none;async;sync
	// +kubebuilder:default=async
	Replication string `json:"replication,omitempty"`
}

// BackupRepository is where backups of the cluster go.
type BackupRepository struct {
	// Type of repository.
	// +kubebuilder:validation:Enum=filesystem;s3;azure;gcs
	Type string `json:"type"`
	// Path on the node (filesystem) or in the bucket.
	Path string `json:"path"`
	// Bucket or container name.
	// +optional
	Bucket string `json:"bucket,omitempty"`
	// Endpoint of an S3-compatible store.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// Region of the bucket.
	// +optional
	Region string `json:"region,omitempty"`
	// CredentialsSecretRef holds the store's credentials (s3: accessKeyID,
	// secretAccessKey and, for a private CA, ca.crt; azure: account, key;
	// gcs: key.json).
	// +optional
	CredentialsSecretRef *RepositoryCredentialsReference `json:"credentialsSecretRef,omitempty"`
	// RetentionFull is how many full backups are kept.
	// +optional
	// +kubebuilder:default=7
	RetentionFull int32 `json:"retentionFull,omitempty"`
	// RetentionDays keeps every full backup younger than this many days
	// (and what restoring them needs), in place of a count: PostgreSQL.
	// +optional
	// +kubebuilder:validation:Minimum=1
	RetentionDays int32 `json:"retentionDays,omitempty"`

	// SkipFinalBackup deletes the cluster's primary without first taking a
	// full backup of it. By default deleting the primary's node takes one,
	// and a failed final backup blocks the deletion.
	// +optional
	SkipFinalBackup bool `json:"skipFinalBackup,omitempty"`
}

// RepositoryCredentialsReference names the Secret with a repository's
// credentials.
type RepositoryCredentialsReference struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Namespace of the Secret: empty for this resource's own. The only other
	// namespace allowed is the provider's own, where the platform team keeps
	// the platform's object store credentials out of app teams' reach; a
	// repository using them must have a path ending in
	// /<this namespace>/<cluster>, so it reaches this namespace's backups only.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// RestoreSource is the backup a new cluster starts from.
type RestoreSource struct {
	// Cluster is the source cluster's name, which names its backups (the
	// pgBackRest stanza). The source may have been deleted.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Cluster string `json:"cluster"`

	// Repository holding the source's backups.
	Repository BackupRepository `json:"repository"`

	// Backup is the label of the backup set to start from, as a Backup's
	// status.atProvider.label shows it. Empty picks the latest one that
	// ends before PointInTime (or the latest).
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?$`
	Backup string `json:"backup,omitempty"`

	// PointInTime to recover to. Empty recovers every archived change when
	// no Backup is named, and stops at the end of the named Backup otherwise.
	// +optional
	PointInTime *metav1.Time `json:"pointInTime,omitempty"`
}

// DatabaseNodeParameters are the desired state of a database node.
// +kubebuilder:validation:XValidation:rule="!has(self.switchoverTo) || self.cluster.members.exists(m, m.name == self.switchoverTo)",message="switchoverTo must name a member listed in cluster.members"
type DatabaseNodeParameters struct {
	// Engine to install.
	Engine Engine `json:"engine"`

	// Version of the engine.
	Version string `json:"version"`

	// Host is the address the provider reaches over SSH.
	Host string `json:"host"`

	// SSH connection to the host.
	SSH SSHConnection `json:"ssh"`

	// Port the engine listens on.
	// +optional
	Port int32 `json:"port,omitempty"`

	// Cluster membership.
	Cluster ClusterMembership `json:"cluster"`

	// CPUs and MemoryMiB of the host, used to size the engine's memory.
	// +optional
	CPUs int32 `json:"cpus,omitempty"`
	// +optional
	MemoryMiB int32 `json:"memoryMiB,omitempty"`

	// Parameters of the engine (postgresql.conf settings, mongod options,
	// mssql-conf settings), already allow-listed by the platform.
	// +optional
	Parameters map[string]string `json:"parameters,omitempty"`

	// DataDisk the node keeps its data on: formatted once, mounted at the
	// node's directory and grown online with its disk. Without it the data
	// lives on the host's OS disk (hosts without a separate data disk).
	// +optional
	DataDisk *DataDisk `json:"dataDisk,omitempty"`

	// AdminPasswordSecretRef holds the administrator's password; the
	// provider generates it when the key is missing.
	AdminPasswordSecretRef SecretKeySelector `json:"adminPasswordSecretRef"`

	// TLS enables encrypted client connections with a certificate the
	// provider issues from this CA.
	// +optional
	TLS *NodeTLS `json:"tls,omitempty"`

	// Backup repository configured on the node (archiving, pgBackRest stanza).
	// +optional
	Backup *BackupRepository `json:"backup,omitempty"`

	// RestoreFrom forms a new cluster from another cluster's backup instead
	// of an empty database (PostgreSQL). It is read only when the cluster is
	// first formed; the source's repository is only read.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="restoreFrom cannot be changed: it is read only when the cluster is first formed"
	RestoreFrom *RestoreSource `json:"restoreFrom,omitempty"`

	// RestartRequest restarts the engine on this node once each time it
	// changes (any new value, a timestamp for example). The outcome is
	// recorded in status.atProvider.lastRestart.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RestartRequest string `json:"restartRequest,omitempty"`

	// SwitchoverTo requests a controlled switchover to the named member.
	// The outcome is recorded in status.atProvider.lastSwitchover.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	SwitchoverTo string `json:"switchoverTo,omitempty"`
}

// DataDisk is a node's data disk.
type DataDisk struct {
	// DevicePath is where the host finds the disk under a name its platform
	// keeps stable (the VirtualMachine's status.atProvider.dataDisks[].devicePath).
	// +kubebuilder:validation:Pattern=`^/dev/[-_./:A-Za-z0-9]+$`
	// +kubebuilder:validation:MaxLength=255
	DevicePath string `json:"devicePath"`
}

// NodeTLS configures TLS for client connections.
type NodeTLS struct {
	// CASecretRef holds ca.crt and ca.key of the cluster's CA.
	CASecretRef LocalSecretReference `json:"caSecretRef"`
}

// MemberStatus is one member as the cluster reports it.
type MemberStatus struct {
	Name     string `json:"name"`
	Role     string `json:"role,omitempty"`
	State    string `json:"state,omitempty"`
	Timeline int64  `json:"timeline,omitempty"`
	LagBytes int64  `json:"lagBytes,omitempty"`
}

// SwitchoverStatus records the last switchover requested through the API.
type SwitchoverStatus struct {
	Target string       `json:"target,omitempty"`
	Result string       `json:"result,omitempty"`
	Time   *metav1.Time `json:"time,omitempty"`
}

// RestartStatus records the last restart requested through the API.
type RestartStatus struct {
	Request string       `json:"request,omitempty"`
	Result  string       `json:"result,omitempty"`
	Time    *metav1.Time `json:"time,omitempty"`
}

// DatabaseNodeObservation is the observed state of a node.
type DatabaseNodeObservation struct {
	// Role of this node: primary or replica.
	Role string `json:"role,omitempty"`
	// State of the engine on this node (running, starting, stopped).
	State string `json:"state,omitempty"`
	// Version running.
	Version string `json:"version,omitempty"`
	// Timeline of PostgreSQL.
	Timeline int64 `json:"timeline,omitempty"`
	// LagBytes behind the primary.
	LagBytes int64 `json:"lagBytes,omitempty"`
	// Members of the cluster as this node sees them.
	Members []MemberStatus `json:"members,omitempty"`
	// LastSwitchover requested through spec.forProvider.switchoverTo.
	LastSwitchover *SwitchoverStatus `json:"lastSwitchover,omitempty"`
	// LastRestart requested through spec.forProvider.restartRequest.
	LastRestart *RestartStatus `json:"lastRestart,omitempty"`
	// AppliedConfigHash identifies the configuration last applied.
	AppliedConfigHash string `json:"appliedConfigHash,omitempty"`
}

// A DatabaseNodeSpec defines the desired state of a DatabaseNode.
type DatabaseNodeSpec struct {
	xpv2.ManagedResourceSpec `json:",inline"`
	ForProvider              DatabaseNodeParameters `json:"forProvider"`
}

// A DatabaseNodeStatus represents the observed state of a DatabaseNode.
type DatabaseNodeStatus struct {
	xpv2.ManagedResourceStatus `json:",inline"`
	AtProvider                 DatabaseNodeObservation `json:"atProvider,omitempty"`
}

// +kubebuilder:object:root=true

// A DatabaseNode is a database engine installed, configured and clustered on
// one host over SSH.
// +kubebuilder:printcolumn:name="READY",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="SYNCED",type="string",JSONPath=".status.conditions[?(@.type=='Synced')].status"
// +kubebuilder:printcolumn:name="ENGINE",type="string",JSONPath=".spec.forProvider.engine"
// +kubebuilder:printcolumn:name="VERSION",type="string",JSONPath=".spec.forProvider.version"
// +kubebuilder:printcolumn:name="HOST",type="string",JSONPath=".spec.forProvider.host"
// +kubebuilder:printcolumn:name="ROLE",type="string",JSONPath=".status.atProvider.role"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,managed,quorum}
type DatabaseNode struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DatabaseNodeSpec   `json:"spec"`
	Status DatabaseNodeStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// DatabaseNodeList contains a list of DatabaseNode.
type DatabaseNodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DatabaseNode `json:"items"`
}
