package objectstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/internal/objectstore/scopedkey"
	"github.com/quorumdb/quorum/internal/pki"
)

var (
	admin  = Key{ID: "admin", Secret: "admin-secret-0123456789"}
	tenant = Key{ID: "tenant-a", Secret: "tenant-secret-0123456789", Prefixes: []string{"backups/team-a/"}}
	other  = Key{ID: "tenant-b", Secret: "other-secret-0123456789", Prefixes: []string{"backups/team-b/"}}
)

func newStore(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store.db"), []Key{admin, tenant, other})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	ca, err := pki.NewCA("test-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.IssueServer(ca, "127.0.0.1", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Cert)
	srv.Client().Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	caPEM = ca.Cert
	return s, srv
}

// caPEM is the certificate authority of the last store started.
var caPEM []byte

type call struct {
	key    Key
	method string
	path   string
	body   string
	// at is the signing time's offset from now; tamper changes the body
	// after signing.
	at     time.Duration
	tamper bool
}

func do(t *testing.T, srv *httptest.Server, c call) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), c.method, srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(c.body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: c.key.ID, SecretAccessKey: c.key.Secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", time.Now().Add(c.at), func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		t.Fatal(err)
	}
	if c.tamper {
		req.Body = io.NopCloser(bytes.NewReader([]byte(c.body + "!")))
		req.ContentLength++
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // Test.
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if resp.StatusCode >= 300 {
		if i := strings.Index(string(b), "<Code>"); i >= 0 {
			code = strings.SplitN(string(b)[i+6:], "<", 2)[0]
		}
	}
	return resp.StatusCode, code
}

// codeCase is a call and the S3 error code it must get ("" for none).
type codeCase struct {
	call     call
	wantCode string
}

func checkCodes(t *testing.T, srv *httptest.Server, cases map[string]codeCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, code := do(t, srv, tc.call)
			if diff := cmp.Diff(tc.wantCode, code); diff != "" {
				t.Errorf("S3 error code (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	_, srv := newStore(t)
	wrong := admin
	wrong.Secret = "not-the-secret"
	// Stored first: the cases below run in no particular order.
	if st, code := do(t, srv, call{key: admin, method: http.MethodPut, path: "/backups/x/one", body: "data"}); st != http.StatusOK {
		t.Fatalf("signed put: %d %s", st, code)
	}
	cases := map[string]codeCase{
		"signed put":                 {call: call{key: admin, method: http.MethodPut, path: "/backups/x/one", body: "data"}},
		"signed get":                 {call: call{key: admin, method: http.MethodGet, path: "/backups/x/one"}},
		"wrong secret":               {call: call{key: wrong, method: http.MethodGet, path: "/backups/x/one"}, wantCode: "SignatureDoesNotMatch"},
		"unknown key":                {call: call{key: Key{ID: "nobody", Secret: "x"}, method: http.MethodGet, path: "/backups/x/one"}, wantCode: "InvalidAccessKeyId"},
		"replayed an hour later":     {call: call{key: admin, method: http.MethodGet, path: "/backups/x/one", at: -time.Hour}, wantCode: "RequestTimeTooSkewed"},
		"body changed after signing": {call: call{key: admin, method: http.MethodPut, path: "/backups/x/one", body: "data", tamper: true}, wantCode: "XAmzContentSHA256Mismatch"},
	}
	checkCodes(t, srv, cases)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/backups/x/one", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned GET answered %d, want 403", resp.StatusCode)
	}
}

func TestPrefixPolicy(t *testing.T) {
	_, srv := newStore(t)
	for _, p := range []string{"/backups/team-a/db/file", "/backups/team-a/db/gone", "/backups/team-b/db/file"} {
		if st, code := do(t, srv, call{key: admin, method: http.MethodPut, path: p, body: "x"}); st != http.StatusOK {
			t.Fatalf("admin put %s: %d %s", p, st, code)
		}
	}
	del := func(keys ...string) string {
		var b strings.Builder
		b.WriteString("<Delete>")
		for _, k := range keys {
			b.WriteString("<Object><Key>" + k + "</Key></Object>")
		}
		b.WriteString("</Delete>")
		return b.String()
	}
	cases := map[string]codeCase{
		"own object":                    {call: call{key: tenant, method: http.MethodGet, path: "/backups/team-a/db/file"}},
		"own listing":                   {call: call{key: tenant, method: http.MethodGet, path: "/backups?list-type=2&prefix=team-a%2Fdb%2F"}},
		"another tenant's object":       {call: call{key: tenant, method: http.MethodGet, path: "/backups/team-b/db/file"}, wantCode: "AccessDenied"},
		"a sibling prefix":              {call: call{key: tenant, method: http.MethodPut, path: "/backups/team-ab/file", body: "x"}, wantCode: "AccessDenied"},
		"another tenant's listing":      {call: call{key: tenant, method: http.MethodGet, path: "/backups?list-type=2&prefix=team-b%2F"}, wantCode: "AccessDenied"},
		"the whole bucket":              {call: call{key: tenant, method: http.MethodGet, path: "/backups?list-type=2"}, wantCode: "AccessDenied"},
		"a delete naming a foreign key": {call: call{key: tenant, method: http.MethodPost, path: "/backups?delete=", body: del("team-a/db/file", "team-b/db/file")}, wantCode: "AccessDenied"},
		"a bucket":                      {call: call{key: tenant, method: http.MethodPut, path: "/other"}, wantCode: "AccessDenied"},
		"own delete":                    {call: call{key: tenant, method: http.MethodPost, path: "/backups?delete=", body: del("team-a/db/gone")}},
	}
	checkCodes(t, srv, cases)
	if st, _ := do(t, srv, call{key: admin, method: http.MethodGet, path: "/backups/team-b/db/file"}); st != http.StatusOK {
		t.Errorf("the other tenant's object is gone: GET answered %d", st)
	}
}

// TestScopedKeys: a key derived from the root secret for one repository
// reaches that repository only; a key claiming a scope with a secret not
// derived from the root is refused, as is any scoped key on a store that
// does not admit them.
func TestScopedKeys(t *testing.T) {
	s, srv := newStore(t)
	s.AdmitScopedKeys("root-secret-of-the-platform")
	if st, code := do(t, srv, call{key: admin, method: http.MethodPut, path: "/backups/xdatabase/team-b/billing/x", body: "theirs"}); st != http.StatusOK {
		t.Fatalf("admin put: %d %s", st, code)
	}
	id, secret := scopedkey.Derive("root-secret-of-the-platform", "backups", "/xdatabase/team-a/orders")
	own := Key{ID: id, Secret: secret}
	forgedID, _ := scopedkey.Derive("root-secret-of-the-platform", "backups", "/xdatabase/team-b/billing")
	forged := Key{ID: forgedID, Secret: secret}
	cases := map[string]codeCase{
		"OwnObject":         {call: call{key: own, method: http.MethodPut, path: "/backups/xdatabase/team-a/orders/uid/archive/x", body: "wal"}},
		"OwnListing":        {call: call{key: own, method: http.MethodGet, path: "/backups?list-type=2&prefix=xdatabase%2Fteam-a%2Forders%2F"}},
		"AnotherDatabase":   {call: call{key: own, method: http.MethodGet, path: "/backups/xdatabase/team-b/billing/x"}, wantCode: "AccessDenied"},
		"SiblingPrefix":     {call: call{key: own, method: http.MethodGet, path: "/backups?list-type=2&prefix=xdatabase%2Fteam-a%2Forders-old%2F"}, wantCode: "AccessDenied"},
		"OwnPathLevel":      {call: call{key: own, method: http.MethodGet, path: "/backups?delimiter=%2F&list-type=2&prefix=xdatabase%2Fteam-a%2Forders"}},
		"OwnPathAllKeys":    {call: call{key: own, method: http.MethodGet, path: "/backups?list-type=2&prefix=xdatabase%2Fteam-a%2Forders"}, wantCode: "AccessDenied"},
		"TheNamespace":      {call: call{key: own, method: http.MethodGet, path: "/backups?list-type=2&prefix=xdatabase%2Fteam-a%2F"}, wantCode: "AccessDenied"},
		"ForgedScope":       {call: call{key: forged, method: http.MethodGet, path: "/backups/xdatabase/team-b/billing/x"}, wantCode: "SignatureDoesNotMatch"},
		"NotScopedNotKnown": {call: call{key: Key{ID: "QS1bm9wZQ", Secret: "x"}, method: http.MethodGet, path: "/backups/x"}, wantCode: "InvalidAccessKeyId"},
	}
	checkCodes(t, srv, cases)
	s.AdmitScopedKeys("")
	if _, code := do(t, srv, call{key: own, method: http.MethodGet, path: "/backups?list-type=2&prefix=xdatabase%2Fteam-a%2Forders%2F"}); code != "InvalidAccessKeyId" {
		t.Errorf("a store that admits no scoped keys answered %q", code)
	}
}
