package admission

import (
	"context"
	"strconv"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

// TestReservedNamesRefused: every engine's own account and database names
// (dbv1alpha1.ReservedNames, which the provider refuses too) are refused at
// admission with the field named; the same names on another engine, and an
// ordinary name, are accepted.
func TestReservedNamesRefused(t *testing.T) {
	kube := setup(t)
	specFor := func(e dbv1alpha1.Engine) map[string]any {
		switch e {
		case dbv1alpha1.MongoDB:
			return with("engine", "mongodb", "version", "7.0")
		case dbv1alpha1.SQLServer:
			return with("engine", "sqlserver", "version", "2022", "size", "medium")
		}
		return base()
	}
	other := map[dbv1alpha1.Engine]dbv1alpha1.Engine{dbv1alpha1.PostgreSQL: dbv1alpha1.MongoDB, dbv1alpha1.MongoDB: dbv1alpha1.SQLServer, dbv1alpha1.SQLServer: dbv1alpha1.PostgreSQL}
	n := 0
	try := func(t *testing.T, spec map[string]any, wantErr string) {
		t.Helper()
		n++
		err := kube.Create(context.Background(), xdb("reserved-"+strconv.Itoa(n), spec), client.DryRunAll)
		checkErr(t, err, wantErr)
	}
	for e, r := range dbv1alpha1.ReservedNames {
		users := append([]string{}, r.Users...)
		for _, p := range r.UserPrefixes {
			users = append(users, p+"monitor")
		}
		for _, u := range users {
			t.Run(string(e)+"/user/"+u, func(t *testing.T) {
				spec := specFor(e)
				spec["users"] = []any{map[string]any{"name": "app"}, map[string]any{"name": u}}
				try(t, spec, "spec.users[].name takes a name "+string(e)+" keeps for its own accounts")
				if dbv1alpha1.ReservedUser(other[e], u) == "" {
					spec := specFor(other[e])
					spec["users"] = []any{map[string]any{"name": u}}
					try(t, spec, "")
				}
			})
		}
		for _, d := range r.Databases {
			t.Run(string(e)+"/database/"+d, func(t *testing.T) {
				spec := specFor(e)
				spec["databases"] = []any{map[string]any{"name": d}}
				try(t, spec, "spec.databases[].name takes a name "+string(e)+" keeps for its own databases")
			})
		}
	}
}
