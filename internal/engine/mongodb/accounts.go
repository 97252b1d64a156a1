// Package mongodb manages MongoDB users and databases (mongo-driver) and
// builds the mongod configuration and replica set commands of a node.
package mongodb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/quorumdb/quorum/internal/accounts"
)

// authDB is where users are defined: one user, grants on any database.
const authDB = "admin"

// maxName bounds user and database names (MongoDB allows 63 bytes for a
// database name).
const maxName = 63

// roles maps a privilege level to MongoDB's built-in roles.
var roles = map[string]string{accounts.Owner: "dbOwner", accounts.ReadWrite: "readWrite", accounts.ReadOnly: "read"}

// Admin manages users and databases through the cluster's root user.
type Admin struct {
	client *mongo.Client
	opts   func() *options.ClientOptions
}

var _ accounts.Admin = (*Admin)(nil)

func clientOptions(e accounts.Endpoint) (func() *options.ClientOptions, error) {
	port := e.Port
	if port == 0 {
		port = 27017
	}
	hosts := make([]string, len(e.Hosts))
	for i, h := range e.Hosts {
		hosts[i] = net.JoinHostPort(h, strconv.Itoa(port))
	}
	var tc *tls.Config
	if len(e.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(e.CA) {
			return nil, errors.New("the admin connection's ca.crt holds no PEM certificate")
		}
		tc = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return func() *options.ClientOptions {
		o := options.Client().SetHosts(hosts).SetAppName("quorum-provider").
			SetConnectTimeout(5 * time.Second).SetServerSelectionTimeout(5 * time.Second)
		if e.ReplicaSet != "" {
			o.SetReplicaSet(e.ReplicaSet)
		} else if len(hosts) == 1 {
			o.SetDirect(true)
		}
		if tc != nil {
			o.SetTLSConfig(tc)
		}
		return o
	}, nil
}

// DialAdmin connects as the cluster's administrator.
func DialAdmin(ctx context.Context, e accounts.Endpoint) (accounts.Admin, error) {
	opts, err := clientOptions(e)
	if err != nil {
		return nil, err
	}
	c, err := mongo.Connect(opts().SetAuth(options.Credential{Username: e.Username, Password: e.Password, AuthSource: authDB}))
	if err != nil {
		return nil, fmt.Errorf("cannot configure the MongoDB client: %w", err)
	}
	if err := c.Ping(ctx, nil); err != nil {
		_ = c.Disconnect(ctx)
		return nil, fmt.Errorf("cannot reach MongoDB as the administrator: %w", err)
	}
	return &Admin{client: c, opts: opts}, nil
}

// Close disconnects.
func (a *Admin) Close(ctx context.Context) error { return a.client.Disconnect(ctx) }

// CheckDatabaseName refuses names MongoDB cannot store.
func CheckDatabaseName(field, name string) error {
	if err := accounts.CheckName(field, name, maxName); err != nil {
		return err
	}
	if i := strings.IndexAny(name, `/\. "$*<>:|?`); i >= 0 {
		return fmt.Errorf("%s %q contains %q, which MongoDB does not allow in a database name", field, name, name[i:i+1])
	}
	return nil
}

func check(u accounts.User) error {
	if err := accounts.CheckName("spec.forProvider.name", u.Name, maxName); err != nil {
		return err
	}
	for i, g := range u.Grants {
		if err := CheckDatabaseName(fmt.Sprintf("spec.forProvider.grants[%d].database", i), g.Database); err != nil {
			return err
		}
	}
	return accounts.CheckGrants(u.Grants)
}

func roleDocs(gs []accounts.Grant) bson.A {
	r := bson.A{}
	for _, g := range gs {
		r = append(r, bson.D{{Key: "role", Value: roles[g.Privilege]}, {Key: "db", Value: g.Database}})
	}
	return r
}

// CreateUserCommand is the command creating a user. Names and passwords are
// BSON values, never parsed: nothing in them can change the command.
func CreateUserCommand(u accounts.User) bson.D {
	return bson.D{{Key: "createUser", Value: u.Name}, {Key: "pwd", Value: u.Password}, {Key: "roles", Value: roleDocs(u.Grants)}}
}

// UpdateUserCommand sets a user's roles, and its password when asked.
func UpdateUserCommand(u accounts.User, setPassword bool) bson.D {
	c := bson.D{{Key: "updateUser", Value: u.Name}}
	if setPassword {
		c = append(c, bson.E{Key: "pwd", Value: u.Password})
	}
	return append(c, bson.E{Key: "roles", Value: roleDocs(u.Grants)})
}

// DropUserCommand drops a user.
func DropUserCommand(name string) bson.D { return bson.D{{Key: "dropUser", Value: name}} }

// UsersInfoCommand reads one user of the admin database.
func UsersInfoCommand(name string) bson.D {
	return bson.D{{Key: "usersInfo", Value: bson.D{{Key: "user", Value: name}, {Key: "db", Value: authDB}}}}
}

type userInfo struct {
	Users []mongoUser `bson:"users"`
}

type mongoUser struct {
	User  string `bson:"user"`
	Roles []struct {
		Role string `bson:"role"`
		DB   string `bson:"db"`
	} `bson:"roles"`
}

// ObserveUser reads the user's roles and checks its password by logging in
// with it (MongoDB does not return credentials to compare).
func (a *Admin) ObserveUser(ctx context.Context, u accounts.User) (*accounts.ObservedUser, error) {
	if err := check(u); err != nil {
		return nil, err
	}
	var info userInfo
	if err := a.client.Database(authDB).RunCommand(ctx, UsersInfoCommand(u.Name)).Decode(&info); err != nil {
		return nil, fmt.Errorf("cannot read user %q: %w", u.Name, err)
	}
	i := slices.IndexFunc(info.Users, func(x mongoUser) bool { return x.User == u.Name })
	if i < 0 {
		return nil, nil
	}
	held := map[string]string{}
	for _, r := range info.Users[i].Roles {
		held[r.DB] = r.Role
	}
	o := &accounts.ObservedUser{}
	for _, g := range u.Grants {
		if held[g.Database] == roles[g.Privilege] {
			o.Grants = append(o.Grants, g)
		} else {
			o.Drift = append(o.Drift, fmt.Sprintf("role on database %q is %q, want %q", g.Database, held[g.Database], roles[g.Privilege]))
		}
		delete(held, g.Database)
	}
	for db, r := range held {
		o.Drift = append(o.Drift, fmt.Sprintf("holds role %q on database %q that no grant asks for", r, db))
	}
	slices.Sort(o.Drift)
	ok, err := a.passwordMatches(ctx, u)
	if err != nil {
		return nil, err
	}
	o.PasswordMatches = ok
	return o, nil
}

func (a *Admin) passwordMatches(ctx context.Context, u accounts.User) (bool, error) {
	if u.Password == "" {
		return false, nil
	}
	c, err := mongo.Connect(a.opts().SetAuth(options.Credential{Username: u.Name, Password: u.Password, AuthSource: authDB}))
	if err != nil {
		return false, fmt.Errorf("cannot configure the MongoDB client: %w", err)
	}
	defer func() { _ = c.Disconnect(ctx) }()
	err = c.Ping(ctx, nil)
	var ce mongo.CommandError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ce) && ce.Code == 18, strings.Contains(err.Error(), "AuthenticationFailed"), strings.Contains(err.Error(), "auth error"):
		return false, nil
	}
	return false, fmt.Errorf("cannot check user %q's password by logging in: %w", u.Name, err)
}

// CreateUser creates the user with its roles.
func (a *Admin) CreateUser(ctx context.Context, u accounts.User) error {
	if err := check(u); err != nil {
		return err
	}
	err := a.client.Database(authDB).RunCommand(ctx, CreateUserCommand(u)).Err()
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code == 51003 { // user already exists: created before a crash
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create user %q: %w", u.Name, err)
	}
	return nil
}

// UpdateUser sets roles and, when asked, the password.
func (a *Admin) UpdateUser(ctx context.Context, u accounts.User, setPassword bool) error {
	if err := check(u); err != nil {
		return err
	}
	if err := a.client.Database(authDB).RunCommand(ctx, UpdateUserCommand(u, setPassword)).Err(); err != nil {
		return fmt.Errorf("cannot update user %q: %w", u.Name, err)
	}
	return nil
}

// DropUser drops the user; a missing user is fine.
func (a *Admin) DropUser(ctx context.Context, name string) error {
	err := a.client.Database(authDB).RunCommand(ctx, DropUserCommand(name)).Err()
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code == 11 { // UserNotFound
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot drop user %q: %w", name, err)
	}
	return nil
}

// markerCollection makes a database exist: MongoDB creates databases on
// their first write, and an empty one is not listed.
const markerCollection = "quorum.database"

// ObserveDatabase finds the database in listDatabases.
func (a *Admin) ObserveDatabase(ctx context.Context, name string) (*accounts.ObservedDatabase, error) {
	if err := CheckDatabaseName("spec.forProvider.name", name); err != nil {
		return nil, err
	}
	r, err := a.client.ListDatabases(ctx, bson.D{{Key: "name", Value: name}})
	if err != nil {
		return nil, fmt.Errorf("cannot list databases: %w", err)
	}
	for _, d := range r.Databases {
		if d.Name == name {
			return &accounts.ObservedDatabase{SizeBytes: d.SizeOnDisk}, nil
		}
	}
	return nil, nil
}

// CreateDatabase creates the database by creating its marker collection.
// MongoDB databases have no owner: owners get the dbOwner role via their
// User's grants.
func (a *Admin) CreateDatabase(ctx context.Context, name, _ string) error {
	if err := CheckDatabaseName("spec.forProvider.name", name); err != nil {
		return err
	}
	err := a.client.Database(name).CreateCollection(ctx, markerCollection)
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code == 48 { // NamespaceExists
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create database %q: %w", name, err)
	}
	return nil
}

// UpdateDatabase has nothing to converge: ownership is a role.
func (a *Admin) UpdateDatabase(context.Context, string, string) error { return nil }

// DropDatabase drops the database.
func (a *Admin) DropDatabase(ctx context.Context, name string) error {
	if err := CheckDatabaseName("spec.forProvider.name", name); err != nil {
		return err
	}
	if err := a.client.Database(name).Drop(ctx); err != nil {
		return fmt.Errorf("cannot drop database %q: %w", name, err)
	}
	return nil
}
