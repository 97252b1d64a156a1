// Package sqlserver registers SQL Server on Linux, clustered with an
// availability group.
package sqlserver

import "github.com/quorumdb/quorum/functions/xdatabase/engine"

func init() {
	engine.Register(engine.Engine{
		Name:       "sqlserver",
		Port:       1433,
		Versions:   []string{"2019", "2022"},
		Parameters: []string{"memory.memorylimitmb", "sqlagent.enabled", "network.forceencryption"},
		AdminUser:  "quorum_admin",
	})
}
