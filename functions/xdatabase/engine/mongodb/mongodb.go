// Package mongodb registers MongoDB, clustered as a replica set.
package mongodb

import "github.com/quorumdb/quorum/functions/xdatabase/engine"

func init() {
	engine.Register(engine.Engine{
		Name:       "mongodb",
		Port:       27017,
		Versions:   []string{"6.0", "7.0", "8.0"},
		Parameters: []string{"net.maxIncomingConnections", "operationProfiling.slowOpThresholdMs", "storage.wiredTiger.engineConfig.cacheSizeGB"},
		AdminUser:  "quorum_admin",
		ReplicaSet: true,
	})
}
