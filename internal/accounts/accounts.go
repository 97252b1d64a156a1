// Package accounts is what the User and Database controllers need from a
// database engine: roles or logins with a password and grants, and logical
// databases. Each engine implements Admin under internal/engine/<engine>; the
// controllers only ever see this interface.
package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Privileges a user can hold on a logical database.
const (
	Owner     = "owner"
	ReadWrite = "readwrite"
	ReadOnly  = "readonly"
)

// A Grant is one privilege level on one logical database.
type Grant struct {
	Database  string
	Privilege string
}

// A User is the desired state of a role or login.
type User struct {
	Name     string
	Password string
	Grants   []Grant
	// ConnectionLimit is nil for the engine's default.
	ConnectionLimit *int32
}

// ObservedUser is what an engine found of a user. Drift is empty when the
// user is exactly as desired, otherwise it says what differs (never a
// secret).
type ObservedUser struct {
	// PasswordMatches is false when the password in force is not the one
	// given to Observe.
	PasswordMatches bool
	// Grants in force that match the desired ones.
	Grants []Grant
	// Drift lists what differs from the desired state, password aside.
	Drift []string
}

// ObservedDatabase is what an engine found of a logical database.
type ObservedDatabase struct {
	Owner     string
	SizeBytes int64
}

// Admin manages users and databases of one cluster through its administrator.
type Admin interface {
	// ObserveUser returns nil when the user does not exist.
	ObserveUser(ctx context.Context, u User) (*ObservedUser, error)
	// CreateUser creates the user with its password, not its grants.
	CreateUser(ctx context.Context, u User) error
	// UpdateUser converges password (when setPassword), grants and limits.
	UpdateUser(ctx context.Context, u User, setPassword bool) error
	// DropUser removes the user; objects it owns are kept (reassigned to the
	// administrator where the engine has ownership).
	DropUser(ctx context.Context, name string) error

	// ObserveDatabase returns nil when the database does not exist.
	ObserveDatabase(ctx context.Context, name string) (*ObservedDatabase, error)
	CreateDatabase(ctx context.Context, name, owner string) error
	UpdateDatabase(ctx context.Context, name, owner string) error
	DropDatabase(ctx context.Context, name string) error

	Close(ctx context.Context) error
}

// Endpoint is how to reach a cluster's administrator, read from the admin
// connection Secret its nodes publish.
type Endpoint struct {
	Engine     string
	Hosts      []string
	Port       int
	Username   string
	Password   string
	ReplicaSet string
	CA         []byte
}

// Dialer opens an Admin session on a cluster.
type Dialer func(ctx context.Context, e Endpoint) (Admin, error)

// ErrUnknownPrivilege is returned for a privilege outside Owner, ReadWrite
// and ReadOnly.
var ErrUnknownPrivilege = errors.New("unknown privilege")

// CheckGrants refuses unknown privileges and two grants on one database.
func CheckGrants(gs []Grant) error {
	seen := map[string]bool{}
	for i, g := range gs {
		if !slices.Contains([]string{Owner, ReadWrite, ReadOnly}, g.Privilege) {
			return fmt.Errorf("spec.forProvider.grants[%d].privilege %q: %w (use owner, readwrite or readonly)", i, g.Privilege, ErrUnknownPrivilege)
		}
		if seen[g.Database] {
			return fmt.Errorf("spec.forProvider.grants[%d]: database %q is granted twice; keep one privilege per database", i, g.Database)
		}
		seen[g.Database] = true
	}
	return nil
}

// Password returns n characters from crypto/rand, letters and digits only so
// that it survives every client, URI and configuration format unquoted.
func Password(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	// Rejection sampling: 62 does not divide 256, so bytes >= 248 are
	// dropped to keep every character equally likely.
	var b strings.Builder
	buf := make([]byte, 64)
	for b.Len() < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("cannot read random bytes: %w", err)
		}
		for _, c := range buf {
			if c < 248 && b.Len() < n {
				b.WriteByte(alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return b.String(), nil
}

// CheckName refuses names no engine can store: empty, NUL bytes, invalid
// UTF-8 or longer than max bytes. Everything else is quoted or passed as a
// parameter by the engines, never interpolated.
func CheckName(field, name string, max int) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", field)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%s contains a NUL byte, which no engine accepts in a name", field)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s is not valid UTF-8", field)
	case len(name) > max:
		return fmt.Errorf("%s is %d bytes long; the engine allows at most %d", field, len(name), max)
	}
	return nil
}
