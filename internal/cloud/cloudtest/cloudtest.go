// Package cloudtest serves a fake cloud over TLS in tests, trusted the way
// the provider trusts the local platform's fake clouds: a CA named by
// SSL_CERT_FILE. Go reads that file once, at the first TLS connection, so
// Main must run before any (from TestMain).
package cloudtest

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quorumdb/quorum/internal/pki"
)

var serverTLS *tls.Config

// Main trusts a fresh CA, runs the tests and exits with their code.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "cloudtest")
	if err != nil {
		panic(err)
	}
	ca, err := pki.NewCA("cloudtest-ca", time.Now())
	if err != nil {
		panic(err)
	}
	srv, err := pki.IssueServer(ca, "fake-cloud", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.Cert, 0o600); err != nil {
		panic(err)
	}
	_ = os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "ca.crt"))
	cert, err := tls.X509KeyPair(srv.Cert, srv.Key)
	if err != nil {
		panic(err)
	}
	serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Serve serves h over TLS until the test ends and returns its URL.
func Serve(t *testing.T, h http.Handler) string {
	t.Helper()
	if serverTLS == nil {
		t.Fatal("cloudtest.Serve needs cloudtest.Main in the package's TestMain")
	}
	s := httptest.NewUnstartedServer(h)
	s.TLS = serverTLS
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.URL
}
