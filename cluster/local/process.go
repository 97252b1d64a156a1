package local

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A process the platform runs in the background. Its pid is kept in
// run/<name>.pid and its output in logs/<name>.log under the state dir.
type process struct {
	Name string
	Path string
	Args []string
	Env  []string
}

func (p *Platform) pidFile(name string) string { return filepath.Join(p.StateDir, "run", name+".pid") }
func (p *Platform) logFile(name string) string { return filepath.Join(p.StateDir, "logs", name+".log") }

// start launches the process in its own session so it outlives this command
// and can be stopped as a group.
func (p *Platform) start(pr process) error {
	lf, err := os.OpenFile(p.logFile(pr.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close() //nolint:errcheck // The child holds its own descriptor.
	cmd := exec.Command(pr.Path, pr.Args...)
	cmd.Env = append(os.Environ(), pr.Env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", pr.Name, err)
	}
	if err := os.WriteFile(p.pidFile(pr.Name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	// Reap the child in the background if it dies while we still run, so a
	// crash shows up as "not running" rather than a zombie.
	go cmd.Wait() //nolint:errcheck // Exit status is in its log.
	return nil
}

// run executes a one-shot command with its output appended to the named log.
func (p *Platform) run(name string, env []string, path string, args ...string) error {
	lf, err := os.OpenFile(p.logFile(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close() //nolint:errcheck // Best effort.
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s failed (see %s): %w", filepath.Base(path), strings.Join(args, " "), p.logFile(name), err)
	}
	return nil
}

// pid returns the pid of a running component, or 0.
func (p *Platform) pid(name string) int {
	b, err := os.ReadFile(p.pidFile(name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if !alive(pid) {
		return 0
	}
	return pid
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A zombie still answers kill 0: look at its state.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) < 3 || f[2] != "Z"
}

// stop terminates a component's process group, politely then firmly.
func (p *Platform) stop(name string) error {
	pid := p.pid(name)
	defer os.Remove(p.pidFile(name)) //nolint:errcheck // Gone either way.
	if pid == 0 {
		return nil
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for range 50 {
		if !alive(pid) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s (pid %d) did not stop", name, pid)
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close() //nolint:errcheck // Only needed the number.
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until something accepts connections on the address.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("nothing listens on %s after %s", addr, timeout), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
