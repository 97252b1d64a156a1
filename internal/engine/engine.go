// Package engine lists what each database engine provides to the
// controllers. Adding an engine is a folder under internal/engine plus its
// line here.
package engine

import (
	"github.com/quorumdb/quorum/internal/accounts"
	"github.com/quorumdb/quorum/internal/engine/mongodb"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/engine/postgresql"
	"github.com/quorumdb/quorum/internal/engine/sqlserver"
)

// Accounts dials each engine's administrator for users and databases.
var Accounts = map[string]accounts.Dialer{
	"postgresql": postgresql.DialAdmin,
	"mongodb":    mongodb.DialAdmin,
	"sqlserver":  sqlserver.DialAdmin,
}

// Nodes installs and clusters each engine on a host.
var Nodes = map[string]node.Factory{
	"postgresql": postgresql.NewRole,
	"mongodb":    mongodb.NewRole,
	"sqlserver":  sqlserver.NewRole,
}
