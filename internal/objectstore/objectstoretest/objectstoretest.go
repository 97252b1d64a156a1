// Package objectstoretest serves a real object store (internal/objectstore)
// over TLS for tests of what reaches it: pgBackRest, curl, the engines'
// backup scripts.
package objectstoretest

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/quorumdb/quorum/internal/objectstore"
	"github.com/quorumdb/quorum/internal/pki"
)

// Bucket is the bucket every store serves.
const Bucket = "backups"

// Store is a running store.
type Store struct {
	// Endpoint is host:port.
	Endpoint string
	Key      objectstore.Key
	// CA signed the store's certificate (PEM).
	CA []byte
}

// Credentials are the key and CA as a repository's credentials Secret
// holds them.
func (s Store) Credentials() map[string]string {
	return map[string]string{"accessKeyID": s.Key.ID, "secretAccessKey": s.Key.Secret, "ca.crt": string(s.CA)}
}

// Serve starts a store listening on host (an address this machine owns:
// 127.0.0.1, or a test datacenter's gateway that its guests reach), with
// its objects in dir, until the test ends.
func Serve(t testing.TB, dir, host string) Store {
	t.Helper()
	ca, err := pki.NewCA("test-store-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.IssueServer(ca, host, []string{host}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	key := objectstore.Key{ID: "test-node", Secret: "store-secret-for-tests-0123456789"}
	s, err := objectstore.Open(filepath.Join(dir, "objects.db"), []objectstore.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(Bucket); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("object store: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close(); _ = s.Close() })
	return Store{Endpoint: l.Addr().String(), Key: key, CA: ca.Cert}
}
