// Package pgtest starts a real, standalone PostgreSQL server for tests: initdb
// and postgres from the machine's packages, run as the postgres OS user, on a
// free loopback port, with SCRAM authentication and a superuser to administer
// it. Without the binaries a test is skipped, or fails when CI=true.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir holds the PostgreSQL 15 server binaries on Debian.
const BinDir = "/usr/lib/postgresql/15/bin"

// Server is a running PostgreSQL.
type Server struct {
	Host          string
	Port          int
	AdminUser     string
	AdminPassword string
	Dir           string
}

// Start starts a server for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	pg, err := user.Lookup("postgres")
	if err == nil {
		_, err = os.Stat(filepath.Join(BinDir, "postgres"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL 15 is required: %v", err)
		}
		t.Skipf("PostgreSQL 15 unavailable: %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	dir, err := os.MkdirTemp("", "quorum-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", Port: freePort(t), AdminUser: "quorum_admin", AdminPassword: "admin-" + strconv.FormatInt(time.Now().UnixNano(), 36), Dir: dir}
	as := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(filepath.Join(BinDir, name), args...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		c.Dir = dir
		return c
	}
	data := filepath.Join(dir, "data")
	if out, err := as("initdb", "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	log, _ := os.Create(filepath.Join(dir, "postgres.log"))
	srv := as("postgres", "-D", data, "-k", dir, "-h", s.Host, "-p", strconv.Itoa(s.Port),
		"-c", "log_statement=all", "-c", "fsync=off", "-c", "shared_buffers=16MB")
	srv.Stdout, srv.Stderr = log, log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGINT)
		_, _ = srv.Process.Wait()
		_ = log.Close()
	})
	ctx := context.Background()
	var c *pgx.Conn
	for i := 0; ; i++ {
		c, err = pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres database=postgres", dir, s.Port))
		if err == nil {
			break
		}
		if i > 100 {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("postgres did not start: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, fmt.Sprintf("CREATE ROLE %s SUPERUSER LOGIN PASSWORD '%s'", s.AdminUser, s.AdminPassword)); err != nil {
		t.Fatal(err)
	}
	return s
}

// Log returns the server's log so far (every statement is logged).
func (s *Server) Log(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Connect logs in as a user over TCP with SCRAM.
func (s *Server) Connect(ctx context.Context, user, password, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d sslmode=disable", s.Host, s.Port))
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Password, cfg.Database = user, password, db
	return pgx.ConnectConfig(ctx, cfg)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
