package hosttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/quorumdb/quorum/internal/sshexec"
)

// Local is a host.Host that runs commands on this machine with sh, for
// testing the shell mechanics roles share (background jobs, manifests)
// for real. Env is added to every command's environment (a PATH with
// stand-ins for tools not installed here, for example). Owners are not
// applied.
type Local struct {
	Env []string
}

// Run runs the command with sh -c.
func (l *Local) Run(ctx context.Context, name, cmd string) (sshexec.Step, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(os.Environ(), l.Env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	st := sshexec.Step{Name: name, Command: cmd, Stdout: out.String(), Stderr: errb.String()}
	if err != nil {
		st.ExitCode = c.ProcessState.ExitCode()
		return st, fmt.Errorf("step %q: %w: %s", name, err, errb.String())
	}
	return st, nil
}

// WriteFile writes the file when its content differs.
func (l *Local) WriteFile(_ context.Context, path string, content []byte, mode uint32, _ string) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) { //nolint:gosec // Test paths.
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, os.WriteFile(path, content, os.FileMode(mode))
}
