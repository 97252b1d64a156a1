package mongodb

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/quorumdb/quorum/internal/accounts"
)

// ferretDB starts bin/ferretdb (built by hack/build-tools.sh) with its SQLite
// backend and its new authentication, which supports createUser, usersInfo,
// updateUser, dropUser and SCRAM login. It has no roles and no replica sets.
func ferretDB(t *testing.T) accounts.Endpoint {
	t.Helper()
	root, _ := filepath.Abs("../../..")
	bin := filepath.Join(root, "bin", "ferretdb")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("bin/ferretdb is required (make tools): %v", err)
		}
		t.Skipf("bin/ferretdb unavailable (make tools): %v", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	pw, _ := accounts.Password(24)
	cmd := exec.Command(bin, "--handler=sqlite", "--sqlite-url=file:"+dir+"/", "--listen-addr=127.0.0.1:"+strconv.Itoa(port),
		"--state-dir="+dir, "--telemetry=disable", "--debug-addr=-", "--log-level=warn",
		"--test-enable-new-auth", "--setup-database=admin", "--setup-username=root", "--setup-password="+pw)
	log, _ := os.Create(filepath.Join(dir, "ferretdb.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			_ = c.Close()
			break
		}
		if i > 100 {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("FerretDB did not start: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return accounts.Endpoint{Engine: "mongodb", Hosts: []string{"127.0.0.1"}, Port: port, Username: "root", Password: pw}
}

// TestUsersAgainstFerretDB: createUser, SCRAM login with the password, a
// password changed outside detected and put back, rotation, dropUser, and a
// database created and dropped, over the real wire protocol. Roles cannot be
// checked here (FerretDB has none): TestCommands covers them.
func TestUsersAgainstFerretDB(t *testing.T) {
	ep := ferretDB(t)
	ctx := context.Background()
	adm, err := DialAdmin(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close(ctx)
	a := adm.(*Admin)

	pw1, _ := accounts.Password(32)
	u := accounts.User{Name: `o'brien"; db.dropDatabase()`, Password: pw1}
	if o, err := adm.ObserveUser(ctx, u); o != nil || err != nil {
		t.Fatalf("absent user observed: %+v, %v", o, err)
	}
	for range 2 {
		if err := adm.CreateUser(ctx, u); err != nil {
			t.Fatalf("create (twice, as after a crash): %v", err)
		}
	}
	o, err := adm.ObserveUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&accounts.ObservedUser{PasswordMatches: true}, o); diff != "" {
		t.Errorf("after create (-want +got):\n%s", diff)
	}

	// Changed outside: a login with the desired password fails until Update.
	if err := a.client.Database("admin").RunCommand(ctx, bson.D{{Key: "updateUser", Value: u.Name}, {Key: "pwd", Value: "changed-outside"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if o, _ := adm.ObserveUser(ctx, u); o == nil || o.PasswordMatches {
		t.Fatalf("a password changed outside observed as %+v", o)
	}
	if err := adm.UpdateUser(ctx, u, true); err != nil {
		t.Fatal(err)
	}
	if o, _ := adm.ObserveUser(ctx, u); o == nil || !o.PasswordMatches {
		t.Fatalf("password not put back: %+v", o)
	}

	// Rotation retires the old password.
	old := u
	u.Password, _ = accounts.Password(32)
	if err := adm.UpdateUser(ctx, u, true); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.passwordMatches(ctx, u); !ok || err != nil {
		t.Errorf("rotated password: %v, %v", ok, err)
	}
	if ok, err := a.passwordMatches(ctx, old); ok || err != nil {
		t.Errorf("old password after rotation: %v, %v", ok, err)
	}

	for range 2 {
		if err := adm.DropUser(ctx, u.Name); err != nil {
			t.Fatalf("drop (twice): %v", err)
		}
	}
	if o, err := adm.ObserveUser(ctx, u); o != nil || err != nil {
		t.Errorf("dropped user observed: %+v, %v", o, err)
	}

	for range 2 {
		if err := adm.CreateDatabase(ctx, "orders", ""); err != nil {
			t.Fatalf("create database (twice): %v", err)
		}
	}
	if d, err := adm.ObserveDatabase(ctx, "orders"); d == nil || err != nil {
		t.Fatalf("created database not observed: %v", err)
	}
	if err := adm.DropDatabase(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if d, err := adm.ObserveDatabase(ctx, "orders"); d != nil || err != nil {
		t.Errorf("dropped database observed: %+v, %v", d, err)
	}
}

// TestCommands pins the exact commands sent, roles included: names and
// passwords travel as BSON values whatever they contain.
func TestCommands(t *testing.T) {
	u := accounts.User{Name: `a"b$c`, Password: "p'w", Grants: []accounts.Grant{
		{Database: "orders", Privilege: accounts.Owner}, {Database: "stats", Privilege: accounts.ReadWrite}, {Database: "reports", Privilege: accounts.ReadOnly},
	}}
	roleDocs := bson.A{
		bson.D{{Key: "role", Value: "dbOwner"}, {Key: "db", Value: "orders"}},
		bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: "stats"}},
		bson.D{{Key: "role", Value: "read"}, {Key: "db", Value: "reports"}},
	}
	for _, tc := range []struct {
		name string
		got  bson.D
		want bson.D
	}{
		{"createUser", CreateUserCommand(u), bson.D{{Key: "createUser", Value: `a"b$c`}, {Key: "pwd", Value: "p'w"}, {Key: "roles", Value: roleDocs}}},
		{"updateUser with password", UpdateUserCommand(u, true), bson.D{{Key: "updateUser", Value: `a"b$c`}, {Key: "pwd", Value: "p'w"}, {Key: "roles", Value: roleDocs}}},
		{"updateUser roles only", UpdateUserCommand(u, false), bson.D{{Key: "updateUser", Value: `a"b$c`}, {Key: "roles", Value: roleDocs}}},
		{"dropUser", DropUserCommand(`a"b$c`), bson.D{{Key: "dropUser", Value: `a"b$c`}}},
		{"usersInfo", UsersInfoCommand("x"), bson.D{{Key: "usersInfo", Value: bson.D{{Key: "user", Value: "x"}, {Key: "db", Value: "admin"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDatabaseNames(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"orders", ""},
		{"usuários", ""},
		{"a.b", `contains "."`},
		{"a/b", `contains "/"`},
		{"a$b", `contains "$"`},
		{"a\x00b", "NUL"},
		{strings.Repeat("x", 64), "at most 63"},
	} {
		err := CheckDatabaseName("spec.forProvider.name", tc.name)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
