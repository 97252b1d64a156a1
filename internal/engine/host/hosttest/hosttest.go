// Package hosttest records what an engine role does to a host: every
// command and every file, in order, with scripted answers. Engines whose
// servers cannot run here (MongoDB, SQL Server) are tested at this boundary.
package hosttest

import (
	"context"
	"fmt"
	"strings"

	"github.com/quorumdb/quorum/internal/sshexec"
)

// Recorder is a host.Host that runs nothing.
type Recorder struct {
	// Log holds "run <name>" and "write <path> <mode> <owner>" in order.
	Log []string
	// Commands and Files hold what was run and written, by step name and path.
	Commands map[string]string
	Files    map[string][]byte
	// Stdout answers a step by name; Fail makes it fail.
	Stdout map[string]string
	Fail   map[string]error
}

// New returns an empty recorder.
func New() *Recorder {
	return &Recorder{Commands: map[string]string{}, Files: map[string][]byte{}, Stdout: map[string]string{}, Fail: map[string]error{}}
}

// Run records the command.
func (r *Recorder) Run(_ context.Context, name, cmd string) (sshexec.Step, error) {
	r.Log = append(r.Log, "run "+name)
	r.Commands[name] = cmd
	st := sshexec.Step{Name: name, Command: cmd, Stdout: r.Stdout[name]}
	if err := r.Fail[name]; err != nil {
		st.ExitCode = 1
		return st, fmt.Errorf("step %q: %w", name, err)
	}
	return st, nil
}

// WriteFile records the file, reporting a change only when it differs.
func (r *Recorder) WriteFile(_ context.Context, path string, content []byte, mode uint32, owner string) (bool, error) {
	if old, ok := r.Files[path]; ok && string(old) == string(content) {
		return false, nil
	}
	r.Log = append(r.Log, fmt.Sprintf("write %s %o %s", path, mode, owner))
	r.Files[path] = append([]byte(nil), content...)
	return true, nil
}

// InCommands reports whether any command line contains s (to check
// that a secret never reaches a command line).
func (r *Recorder) InCommands(s string) bool {
	for _, c := range r.Commands {
		if strings.Contains(c, s) {
			return true
		}
	}
	return false
}
