// Package connstr formats client connection strings for every engine. The
// provider uses it to write User connection Secrets and the function to
// compose the app's Secret, so both always agree.
package connstr

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is where and how a client connects.
type Endpoint struct {
	Engine     string
	Hosts      []string
	Port       int32
	Username   string
	Password   string
	Database   string
	ReplicaSet string
	TLS        bool
}

// URI returns the engine's native connection URI.
func URI(e Endpoint) string {
	switch e.Engine {
	case "postgresql":
		return postgres(e)
	case "mongodb":
		return mongo(e)
	case "sqlserver":
		return sqlserver(e)
	}
	return ""
}

func hostPorts(hosts []string, port int32) string {
	hp := make([]string, len(hosts))
	for i, h := range hosts {
		hp[i] = net.JoinHostPort(h, strconv.Itoa(int(port)))
	}
	return strings.Join(hp, ",")
}

// postgres builds a libpq URI. With several hosts it lists them all and asks
// for a read-write session, so clients follow the primary across failovers.
func postgres(e Endpoint) string {
	q := url.Values{}
	if len(e.Hosts) > 1 {
		q.Set("target_session_attrs", "read-write")
	}
	// With TLS the connection is always encrypted; verifying the server
	// needs the CA in a file (ca.crt in the Secret): add
	// sslmode=verify-full&sslrootcert=<path>. libpq has no way to carry the
	// CA in the URI itself.
	if e.TLS {
		q.Set("sslmode", "require")
	} else {
		q.Set("sslmode", "prefer")
	}
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(e.Username, e.Password), Host: hostPorts(e.Hosts, e.Port), Path: "/" + e.Database, RawQuery: q.Encode()}
	return u.String()
}

func mongo(e Endpoint) string {
	q := url.Values{}
	if e.ReplicaSet != "" {
		q.Set("replicaSet", e.ReplicaSet)
	}
	q.Set("authSource", "admin")
	if e.TLS {
		q.Set("tls", "true")
	}
	u := url.URL{Scheme: "mongodb", User: url.UserPassword(e.Username, e.Password), Host: hostPorts(e.Hosts, e.Port), Path: "/" + e.Database, RawQuery: q.Encode()}
	return u.String()
}

// sqlserver builds a go-mssqldb / JDBC-style URL to the availability
// group's first host with the database named.
func sqlserver(e Endpoint) string {
	q := url.Values{}
	q.Set("database", e.Database)
	if len(e.Hosts) > 1 {
		q.Set("multisubnetfailover", "true")
	}
	if e.TLS {
		q.Set("encrypt", "true")
	} else {
		q.Set("encrypt", "disable")
	}
	host := ""
	if len(e.Hosts) > 0 {
		host = net.JoinHostPort(e.Hosts[0], strconv.Itoa(int(e.Port)))
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(e.Username, e.Password), Host: host, RawQuery: q.Encode()}
	return u.String()
}

// Details returns the connection Secret keys common to every engine plus the
// engine's extras.
func Details(e Endpoint) map[string][]byte {
	d := map[string][]byte{
		"username": []byte(e.Username),
		"password": []byte(e.Password),
		"port":     []byte(strconv.Itoa(int(e.Port))),
		"database": []byte(e.Database),
		"uri":      []byte(URI(e)),
		"engine":   []byte(e.Engine),
	}
	if len(e.Hosts) > 0 {
		d["host"] = []byte(e.Hosts[0])
		d["hosts"] = []byte(strings.Join(e.Hosts, ","))
	}
	if e.ReplicaSet != "" {
		d["replicaSet"] = []byte(e.ReplicaSet)
	}
	if e.Engine == "sqlserver" {
		d["url"] = d["uri"]
	}
	return d
}
