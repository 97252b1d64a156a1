package xdatabase

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/functions/xdatabase/engine"
)

type celRule struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// specRules are the CEL rules on the v2 XRD's spec.
func specRules(t *testing.T) []celRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "compositions", "xdatabase", "xrd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var xrd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Rules []celRule `json:"x-kubernetes-validations"`
							} `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &xrd); err != nil {
		t.Fatal(err)
	}
	return xrd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties.Spec.Rules
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// reservedRules are the admission rules the reserved names of
// dbv1alpha1.ReservedNames make: one for users, one for databases, per
// engine.
func reservedRules() []celRule {
	engines := make([]string, 0, len(dbv1alpha1.ReservedNames))
	for e := range dbv1alpha1.ReservedNames {
		engines = append(engines, string(e))
	}
	sort.Strings(engines)
	var out []celRule
	for _, e := range engines {
		r := dbv1alpha1.ReservedNames[dbv1alpha1.Engine(e)]
		cond := "!(u.name in " + quoted(r.Users) + ")"
		what := strings.Join(r.Users, ", ")
		for _, p := range r.UserPrefixes {
			cond += " && !u.name.startsWith('" + p + "')"
			what += " and names starting with " + p
		}
		out = append(out, celRule{
			Rule:    fmt.Sprintf("!has(self.users) || self.engine != '%s' || self.users.all(u, %s)", e, cond),
			Message: fmt.Sprintf("spec.users[].name takes a name %s keeps for its own accounts (%s): choose another name", e, what),
		}, celRule{
			Rule:    fmt.Sprintf("!has(self.databases) || self.engine != '%s' || self.databases.all(d, !(d.name in %s))", e, quoted(r.Databases)),
			Message: fmt.Sprintf("spec.databases[].name takes a name %s keeps for its own databases (%s): choose another name", e, strings.Join(r.Databases, ", ")),
		})
	}
	return out
}

// TestXRDReservedNames: the XRD refuses exactly the reserved names the
// provider refuses (one declaration, dbv1alpha1.ReservedNames).
func TestXRDReservedNames(t *testing.T) {
	have := specRules(t)
	for _, want := range reservedRules() {
		if !slices.Contains(have, want) {
			b, _ := yaml.Marshal([]celRule{want})
			t.Errorf("compositions/xdatabase/xrd.yaml lacks the rule (add it to spec's x-kubernetes-validations, then make generate):\n%s", b)
		}
	}
}

// TestXRDEngineFacts: the XRD's parameter allow-lists and versions are the
// engines' own (functions/xdatabase/engine).
func TestXRDEngineFacts(t *testing.T) {
	have := specRules(t)
	for _, name := range []string{"postgresql", "mongodb", "sqlserver"} {
		e, ok := engine.Get(name)
		if !ok {
			t.Fatalf("engine %s not registered", name)
		}
		want := fmt.Sprintf("!has(self.parameters) || self.engine != '%s' || self.parameters.all(k, k in %s)", name, quoted(e.Parameters))
		if !slices.ContainsFunc(have, func(r celRule) bool { return r.Rule == want }) {
			t.Errorf("compositions/xdatabase/xrd.yaml: the parameter rule of %s is not %s", name, want)
		}
		for _, v := range e.Versions {
			if !slices.ContainsFunc(have, func(r celRule) bool {
				return strings.Contains(r.Rule, "self.engine != '"+name+"'") && strings.Contains(r.Rule, "version") && (strings.Contains(r.Rule, "'"+v+"'") || strings.Contains(r.Rule, strings.ReplaceAll(v, ".", "[.]")))
			}) {
				t.Errorf("compositions/xdatabase/xrd.yaml: version %s of %s is not offered by the XRD's version rule", v, name)
			}
		}
	}
}
