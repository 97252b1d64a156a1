// Package sshexec runs commands and places files on a host over SSH, the way
// an Ansible role would, but from the provider: the host key is pinned (a
// host presenting another key is refused), commands report their exit code
// and both output streams separately, files are written only when their
// content differs, and every step is recorded for diagnosis with secrets
// redacted.
package sshexec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Target is a host to reach.
type Target struct {
	Host       string
	Port       int
	User       string
	PrivateKey []byte
	// HostKey pins the host's public key, in authorized_keys format.
	HostKey string
	// Timeout of the TCP connection and SSH handshake.
	Timeout time.Duration
}

// ErrHostKeyMismatch is returned when the host presents a key other than the
// pinned one.
var ErrHostKeyMismatch = errors.New("host key mismatch")

// Client is a connection to one host.
type Client struct {
	c        *ssh.Client
	target   string
	mu       sync.Mutex
	steps    []Step
	redactor *strings.Replacer
}

// Step is one command run, as kept for diagnosis.
type Step struct {
	Name     string
	Command  string
	ExitCode int
	Stdout   string
	Stderr   string
	Duration time.Duration
}

// Dial connects and authenticates. secrets are redacted from every recorded
// step and error.
func Dial(ctx context.Context, t Target, secrets ...string) (*Client, error) {
	if t.HostKey == "" {
		return nil, errors.New("no pinned host key: refusing to connect to an unverified host")
	}
	pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.HostKey))
	if err != nil {
		return nil, fmt.Errorf("cannot parse the pinned host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(t.PrivateKey)
	if err != nil {
		return nil, errors.New("cannot parse the SSH private key")
	}
	if t.Port == 0 {
		t.Port = 22
	}
	if t.User == "" {
		t.User = "root"
	}
	if t.Timeout == 0 {
		t.Timeout = 10 * time.Second
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if !bytes.Equal(key.Marshal(), pinned.Marshal()) {
				return fmt.Errorf("%w: %s presented %s, expected %s; refusing to connect (if the host was rebuilt, update its pinned key)",
					ErrHostKeyMismatch, addr, ssh.FingerprintSHA256(key), ssh.FingerprintSHA256(pinned))
			}
			return nil
		},
		HostKeyAlgorithms: []string{pinned.Type()},
		Timeout:           t.Timeout,
	}
	d := net.Dialer{Timeout: t.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", addr, err)
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("cannot open an SSH session to %s as %s: %w", addr, t.User, err)
	}
	pairs := []string{}
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	return &Client{c: ssh.NewClient(cc, chans, reqs), target: addr, redactor: strings.NewReplacer(pairs...)}, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }

// Steps returns what ran so far, secrets redacted.
func (c *Client) Steps() []Step {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Step(nil), c.steps...)
}

func (c *Client) redact(s string) string { return c.redactor.Replace(s) }

// Run executes a shell command. A non-zero exit is an error naming the step,
// with the end of its stderr.
func (c *Client) Run(ctx context.Context, name, cmd string) (Step, error) {
	return c.run(ctx, name, cmd, nil)
}

func (c *Client) run(ctx context.Context, name, cmd string, stdin []byte) (Step, error) {
	s, err := c.c.NewSession()
	if err != nil {
		return Step{}, fmt.Errorf("%s: cannot open an SSH session to %s: %w", name, c.target, err)
	}
	defer s.Close() //nolint:errcheck // Closed either way.
	// Separate buffers: sharing one between Stdout and Stderr loses output.
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	var rerr error
	select {
	case rerr = <-done:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGKILL)
		_ = s.Close()
		rerr = ctx.Err()
	}
	st := Step{Name: name, Command: c.redact(cmd), Stdout: c.redact(out.String()), Stderr: c.redact(errb.String()), Duration: time.Since(start)}
	var ee *ssh.ExitError
	switch {
	case rerr == nil:
	case errors.As(rerr, &ee):
		st.ExitCode = ee.ExitStatus()
		rerr = fmt.Errorf("%s failed on %s with exit code %d: %s", name, c.target, st.ExitCode, tail(st.Stderr, 400))
	default:
		st.ExitCode = -1
		rerr = fmt.Errorf("%s on %s: %s", name, c.target, c.redact(rerr.Error()))
	}
	c.mu.Lock()
	c.steps = append(c.steps, st)
	c.mu.Unlock()
	return st, rerr
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Quote makes a string one shell word.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

// WriteFile places content at path with mode and owner, only when the file
// differs, atomically (write then rename). It reports whether it changed.
func (c *Client) WriteFile(ctx context.Context, path string, content []byte, mode uint32, owner string) (bool, error) {
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	st, _ := c.run(ctx, "checksum "+path, "sha256sum "+Quote(path)+" 2>/dev/null | cut -d' ' -f1", nil)
	if strings.TrimSpace(st.Stdout) == want {
		return false, nil
	}
	tmp := path + ".quorum-tmp"
	cmd := fmt.Sprintf("set -e; umask 077; mkdir -p \"$(dirname %s)\"; cat > %s; chmod %o %s", Quote(path), Quote(tmp), mode, Quote(tmp))
	if owner != "" {
		cmd += fmt.Sprintf("; chown %s %s", Quote(owner), Quote(tmp))
	}
	cmd += fmt.Sprintf("; mv -f %s %s", Quote(tmp), Quote(path))
	if _, err := c.run(ctx, "write "+path, cmd, content); err != nil {
		return false, err
	}
	return true, nil
}
