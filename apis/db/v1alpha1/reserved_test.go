package v1alpha1

import "testing"

func TestReserved(t *testing.T) {
	cases := map[string]struct {
		engine       Engine
		user, db     string
		userReserved bool
		dbReserved   bool
	}{
		"PostgresSuperuser":   {engine: PostgreSQL, user: "postgres", db: "postgres", userReserved: true, dbReserved: true},
		"PostgresPredefined":  {engine: PostgreSQL, user: "pg_read_all_data", db: "pg_app", userReserved: true},
		"PostgresOrdinary":    {engine: PostgreSQL, user: "app", db: "app"},
		"MongoRootAndAdmin":   {engine: MongoDB, user: "root", db: "admin", userReserved: true, dbReserved: true},
		"MongoPostgresNames":  {engine: MongoDB, user: "postgres", db: "postgres"},
		"SQLServerSAAndMSDB":  {engine: SQLServer, user: "sa", db: "msdb", userReserved: true, dbReserved: true},
		"SQLServerOrdinary":   {engine: SQLServer, user: "app", db: "orders"},
		"UnknownEngineNoRule": {engine: "mysql", user: "root", db: "mysql"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ReservedUser(tc.engine, tc.user) != ""; got != tc.userReserved {
				t.Errorf("ReservedUser(%s, %s): want reserved %v, got %v", tc.engine, tc.user, tc.userReserved, got)
			}
			if got := ReservedDatabase(tc.engine, tc.db) != ""; got != tc.dbReserved {
				t.Errorf("ReservedDatabase(%s, %s): want reserved %v, got %v", tc.engine, tc.db, tc.dbReserved, got)
			}
		})
	}
}
