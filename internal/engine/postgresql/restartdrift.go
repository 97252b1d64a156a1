package postgresql

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/quorumdb/quorum/internal/engine/host"
)

// restartSettingsSQL lists the wanted parameters that PostgreSQL only takes
// at start (context postmaster) whose running value differs from the
// wanted one. Values are compared as what they mean: sizes in bytes,
// booleans and numbers by value, the rest as text ("1GB" is "1024MB").
// wanted is a VALUES list of (name, value).
const restartSettingsSQL = `SELECT s.name || '=' || current_setting(s.name) FROM pg_settings s JOIN (VALUES %s) AS w(name, want) ON w.name = s.name
WHERE s.context = 'postmaster' AND CASE
  WHEN s.vartype = 'bool' THEN current_setting(s.name)::bool IS DISTINCT FROM w.want::bool
  WHEN s.unit IN ('B', 'kB', '8kB', 'MB') THEN pg_size_bytes(current_setting(s.name)) <> pg_size_bytes(w.want)
  WHEN s.vartype IN ('integer', 'real') AND s.unit IS NULL THEN current_setting(s.name)::numeric <> w.want::numeric
  ELSE current_setting(s.name) <> w.want END ORDER BY 1`

func sqlLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// restartQuery is the query restartDrift runs for the node's parameters.
func (n Node) restartQuery() string {
	cluster, local := n.parameters()
	names := []string{}
	all := map[string]string{}
	for _, m := range []map[string]string{cluster, local} {
		for k, v := range m {
			all[k] = v
			names = append(names, k)
		}
	}
	sort.Strings(names)
	rows := make([]string, len(names))
	for i, k := range names {
		rows[i] = "(" + sqlLiteral(k) + ", " + sqlLiteral(all[k]) + ")"
	}
	return fmt.Sprintf(restartSettingsSQL, strings.Join(rows, ", "))
}

// restartDrift reports restart-only parameters PostgreSQL does not run
// with yet, read from the running server itself over the host's socket.
// Patroni's pending_restart flag says the same when it has seen the change,
// but a flag can be missed (a reload racing a demotion): the running value
// cannot. It returns "" when PostgreSQL does not answer: Observe reports that.
func restartDrift(ctx context.Context, h host.Host, n Node) string {
	// The socket is postgres' alone (trusted there); the role is the admin,
	// the cluster has no "postgres" role.
	cmd := fmt.Sprintf("cd / && runuser -u postgres -- %s -X -A -t -q -h %s -p %d -U %s -d postgres -c %s",
		host.Quote(n.BinDir+"/psql"), host.Quote(n.socketDir()), n.Port, host.Quote(n.AdminUser), host.Quote(n.restartQuery()))
	st, err := h.Run(ctx, "read restart-only settings", cmd)
	if err != nil {
		return ""
	}
	diff := strings.Fields(st.Stdout)
	if len(diff) == 0 {
		return ""
	}
	return "PostgreSQL runs with " + strings.Join(diff, ", ") + " and needs a restart for the wanted value"
}

// waitPendingRestart waits, at most max, until Patroni reports a pending
// restart for the node.
func waitPendingRestart(ctx context.Context, n Node, max time.Duration) {
	for deadline := time.Now().Add(max); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var st struct {
			PendingRestart bool `json:"pending_restart"`
		}
		if err := restDo(ctx, http.MethodGet, restURL(n.Address, "/patroni"), nil, &st); err == nil && st.PendingRestart {
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
}
