// Package postgresql registers PostgreSQL, clustered with Patroni.
package postgresql

import "github.com/quorumdb/quorum/functions/xdatabase/engine"

func init() {
	engine.Register(engine.Engine{
		Name:     "postgresql",
		Port:     5432,
		Versions: []string{"14", "15", "16", "17"},
		// Settings that are safe to hand to app teams: memory, planner,
		// logging and timeouts; nothing that touches replication or files.
		Parameters: []string{
			"max_connections", "work_mem", "maintenance_work_mem", "effective_cache_size",
			"random_page_cost", "statement_timeout", "idle_in_transaction_session_timeout",
			"log_min_duration_statement", "log_statement", "default_statistics_target", "timezone",
		},
		AdminUser:                "quorum_admin",
		RepositoryPerIncarnation: true,
	})
}
