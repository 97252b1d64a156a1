// Package host is what an engine's node role needs from a machine, and the
// service mechanics every engine shares. Roles are written against Host so
// that the same code runs over SSH (*sshexec.Client) and, for engines no
// server of which runs here, against a recorder that pins the exact commands
// and files (package hosttest).
package host

import (
	"context"
	"fmt"
	"strings"

	"github.com/quorumdb/quorum/internal/sshexec"
)

// Host runs named commands and writes files on one machine.
type Host interface {
	// Run runs a shell command; a non-zero exit is an error.
	Run(ctx context.Context, name, cmd string) (sshexec.Step, error)
	// WriteFile writes content only when it differs, reporting a change.
	WriteFile(ctx context.Context, path string, content []byte, mode uint32, owner string) (bool, error)
}

var _ Host = (*sshexec.Client)(nil)

// Quote quotes one shell word.
func Quote(s string) string { return sshexec.Quote(s) }

// Alive is a shell test that the pid in a pidfile is a live process. A
// killed daemon whose parent does not reap it stays a zombie, which
// start-stop-daemon --status would count as running.
func Alive(pidfile string) string {
	return fmt.Sprintf(`{ pid=$(cat %s 2>/dev/null) && [ -n "$pid" ] && [ -r /proc/$pid/stat ] && ! grep -q '^[0-9]* (.*) Z ' /proc/$pid/stat; }`, Quote(pidfile))
}

// Start starts a daemon as user under start-stop-daemon unless it is alive.
// setpriv drops to the user and execs, so the pid recorded (by root, in a
// root-owned file) is the daemon's own; --reset-env gives the daemon the
// user's own HOME and a clean environment (libpq in Patroni otherwise looks
// for client certificates under root's unreadable home and gives up TLS).
func Start(pidfile, user, logfile, cmd string) string {
	return fmt.Sprintf("%s || { rm -f %s; start-stop-daemon --start --background --make-pidfile --pidfile %s --startas /bin/sh -- -c %s; }",
		Alive(pidfile), Quote(pidfile), Quote(pidfile), Quote("exec setpriv --reuid="+user+" --regid="+user+" --init-groups --reset-env -- "+cmd+" >> "+logfile+" 2>&1"))
}

// Stop stops the daemons of the pidfiles in order: TERM, up to 30 s for it
// to exit, then KILL.
func Stop(pidfiles ...string) string {
	var b strings.Builder
	for _, f := range pidfiles {
		fmt.Fprintf(&b, `if %s; then kill -TERM "$pid"; for i in $(seq 1 300); do %s || break; sleep 0.1; done; %s && kill -KILL "$pid"; fi; rm -f %s; `,
			Alive(f), Alive(f), Alive(f), Quote(f))
	}
	return b.String()
}
