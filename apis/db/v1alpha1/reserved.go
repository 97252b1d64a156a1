package v1alpha1

import (
	"fmt"
	"slices"
	"strings"
)

// Reserved are an engine's own accounts and databases: the provider and the
// nodes run on them, so no User or Database may take their names (a User
// named after one would reset its password and hand it to the tenant;
// deleting it would drop it). Admission refuses them (the XRD's CEL rules,
// checked against this declaration by a test) and so does the provider.
// +kubebuilder:object:generate=false
type Reserved struct {
	// Users are the engine's system roles and logins.
	Users []string
	// UserPrefixes start names the engine keeps for itself.
	UserPrefixes []string
	// Databases are the engine's system databases.
	Databases []string
}

// ReservedNames by engine.
var ReservedNames = map[Engine]Reserved{
	// postgres is the bootstrap superuser initdb makes, quorum_admin the
	// provider's superuser, replicator the replication role; pg_* roles
	// are PostgreSQL's predefined roles.
	PostgreSQL: {Users: []string{"postgres", "quorum_admin", "replicator"}, UserPrefixes: []string{"pg_"}, Databases: []string{"postgres", "template0", "template1"}},
	// root is the conventional administrator; admin, local and config hold
	// users, the oplog and the cluster's configuration.
	MongoDB: {Users: []string{"quorum_admin", "root"}, Databases: []string{"admin", "config", "local"}},
	// sa is the administrator the provider uses; dbo, guest, sys and
	// information_schema are users every database has.
	SQLServer: {Users: []string{"dbo", "guest", "information_schema", "quorum_admin", "sa", "sys"}, Databases: []string{"master", "model", "msdb", "tempdb"}},
}

// ReservedUser says why name cannot be a user of engine e, or "".
func ReservedUser(e Engine, name string) string {
	r := ReservedNames[e]
	if slices.Contains(r.Users, name) {
		return fmt.Sprintf("%s is one of %s's own accounts (%s)", name, e, strings.Join(r.Users, ", "))
	}
	for _, p := range r.UserPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Sprintf("%s starts with %s, which %s keeps for its own roles", name, p, e)
		}
	}
	return ""
}

// ReservedDatabase says why name cannot be a database of engine e, or "".
func ReservedDatabase(e Engine, name string) string {
	r := ReservedNames[e]
	if slices.Contains(r.Databases, name) {
		return fmt.Sprintf("%s is one of %s's own databases (%s)", name, e, strings.Join(r.Databases, ", "))
	}
	return ""
}
