package v1alpha1

// Engine of a database.
// +kubebuilder:validation:Enum=postgresql;mongodb;sqlserver
type Engine string

// Engines.
const (
	PostgreSQL Engine = "postgresql"
	MongoDB    Engine = "mongodb"
	SQLServer  Engine = "sqlserver"
)

// A SecretKeySelector names a key of a Secret in the managed resource's own
// namespace.
type SecretKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// A LocalSecretReference names a Secret in the managed resource's own namespace.
type LocalSecretReference struct {
	Name string `json:"name"`
}

// AdminConnection says how a User, Database or Backup reaches its cluster: a
// Secret holding the administrator's endpoint and credentials, as written by
// the cluster's DatabaseNodes (keys: engine, hosts, port, username, password,
// and replicaSet or ca.crt where they apply).
type AdminConnection struct {
	// SecretRef names the admin connection Secret.
	SecretRef LocalSecretReference `json:"secretRef"`
}

// A LocalReference names another object in the managed resource's own namespace.
type LocalReference struct {
	Name string `json:"name"`
}

// Labels shared by the composition function and the provider.
const (
	// LabelDeletionProtection is "true" on every resource of an XDatabase
	// whose deletion protection is on: the provider refuses to delete them
	// while it is (internal/protection).
	LabelDeletionProtection = "quorum.dev/deletion-protection"
	// LabelProtectedDatabases marks a namespace holding a protected
	// database; an admission policy refuses to delete it.
	LabelProtectedDatabases = "quorum.dev/protected-databases"
)
