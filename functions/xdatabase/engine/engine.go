// Package engine describes what the function needs to know about each
// database engine. Each engine lives in its own folder and registers itself;
// adding one is a new folder plus catalog rows.
package engine

import (
	"sort"
)

// Engine is the function's view of a database engine.
type Engine struct {
	// Name as written in XDatabase.spec.engine.
	Name string
	// Port clients connect to.
	Port int32
	// Versions offered, newest last.
	Versions []string
	// Parameters app teams may set through spec.parameters.
	Parameters []string
	// AdminUser the nodes create for the provider's own use.
	AdminUser string
	// ReplicaSet is true when clients must name the cluster (MongoDB).
	ReplicaSet bool
	// RepositoryPerIncarnation is true when the backup tool binds a
	// repository to one cluster's identity (pgBackRest's stanza records the
	// system identifier): a database re-created under a deleted one's name
	// gets a repository of its own, next to the old one, which stays
	// restorable.
	RepositoryPerIncarnation bool
}

var registry = map[string]Engine{}

// Register adds an engine. Called from each engine package's init.
func Register(e Engine) { registry[e.Name] = e }

// Get returns a registered engine.
func Get(name string) (Engine, bool) {
	e, ok := registry[name]
	return e, ok
}

// Names lists registered engines, sorted.
func Names() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// AllowsParameter reports whether app teams may set the parameter.
func (e Engine) AllowsParameter(p string) bool {
	for _, a := range e.Parameters {
		if a == p {
			return true
		}
	}
	return false
}
