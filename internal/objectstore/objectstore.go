// Package objectstore is the local platform's S3-compatible object store:
// gofakes3's S3 implementation over a bbolt file, behind AWS Signature
// Version 4 authentication verified server-side and a per-key prefix policy.
// pgBackRest archives WAL and writes backups to it over HTTPS exactly as it
// would to Amazon S3 or MinIO, so backups outlive every VM of the local
// datacenter and a wrong key, a replayed request or a tampered body is
// refused as a real store refuses it.
package objectstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	bolt "go.etcd.io/bbolt"

	"github.com/quorumdb/quorum/internal/objectstore/scopedkey"
)

// Key is an access key and what it may reach.
type Key struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	// Prefixes ("bucket/path/") this key may read, write, list and delete
	// under. Empty reaches everything, buckets included: the platform's
	// administrator key.
	Prefixes []string `json:"prefixes,omitempty"`
}

// MaxObject is the largest request body the store takes.
const MaxObject = 1 << 30

// MaxSkew is how far a request's signing time may be from the server's
// clock, as on Amazon S3: a captured request cannot be replayed later.
const MaxSkew = 15 * time.Minute

// Server is an S3 endpoint.
type Server struct {
	keys map[string]Key
	// scopeRoot, when set, also admits keys derived from it for one prefix
	// (scopedkey).
	scopeRoot string
	s3        http.Handler
	now       func() time.Time
	db        *s3bolt.Backend
	file      *bolt.DB
}

// Open serves the objects kept in the bbolt file at path (created when
// missing) to the given keys.
func Open(path string, keys []Key) (*Server, error) {
	f, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("cannot open the object store's database %s: %w", path, err)
	}
	db := s3bolt.New(f)
	s := &Server{keys: map[string]Key{}, db: db, file: f, now: time.Now}
	for _, k := range keys {
		s.keys[k.ID] = k
	}
	// Path-style addressing only (https://host:port/bucket/key), as
	// pgBackRest's repo1-s3-uri-style=path asks.
	s.s3 = gofakes3.New(db, gofakes3.WithTimeSkewLimit(MaxSkew), gofakes3.WithoutVersioning()).Server()
	return s, nil
}

// AdmitScopedKeys admits keys derived from root for one prefix each
// (internal/objectstore/scopedkey): the repository keys the provider gives
// database nodes.
func (s *Server) AdmitScopedKeys(root string) { s.scopeRoot = root }

// key finds an access key: a configured one, or a scoped key derived from
// the root secret.
func (s *Server) key(id string) (Key, bool) {
	if k, ok := s.keys[id]; ok {
		return k, true
	}
	if s.scopeRoot == "" {
		return Key{}, false
	}
	scope, err := scopedkey.Scope(id)
	if err != nil {
		return Key{}, false
	}
	bucket, prefix, _ := strings.Cut(scope, "/")
	gotID, secret := scopedkey.Derive(s.scopeRoot, bucket, prefix)
	if gotID != id {
		return Key{}, false
	}
	return Key{ID: id, Secret: secret, Prefixes: []string{scope}}, true
}

// Close closes the database.
func (s *Server) Close() error { return s.file.Close() }

// CreateBucket makes a bucket if it does not exist.
func (s *Server) CreateBucket(name string) error {
	if ok, err := s.db.BucketExists(name); err != nil || ok {
		return err
	}
	return s.db.CreateBucket(name)
}

// s3Error is S3's error document.
type s3Error struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(s3Error{Code: code, Message: msg})
}

// ServeHTTP authenticates, authorizes, then hands the request to S3.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Whole in memory: the signature covers the body's hash. Objects past
	// the limit are refused, never stored cut short.
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxObject+1))
	if err != nil {
		fail(w, http.StatusBadRequest, "IncompleteBody", "cannot read the request body")
		return
	}
	if len(body) > MaxObject {
		fail(w, http.StatusRequestEntityTooLarge, "EntityTooLarge", "objects are limited to 1 GiB here")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	key, code, msg := s.authenticate(r, body)
	if code != "" {
		fail(w, http.StatusForbidden, code, msg)
		return
	}
	if !allowed(key, r, body) {
		fail(w, http.StatusForbidden, "AccessDenied", "access key "+key.ID+" may not "+r.Method+" "+r.URL.Path)
		return
	}
	s.s3.ServeHTTP(w, r)
}

// authorization is a parsed Authorization header of Signature Version 4.
type authorization struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

func parseAuthorization(h string) (authorization, bool) {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return authorization{}, false
	}
	a := authorization{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return authorization{}, false
			}
			a.keyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.keyID != "" && a.signature != "" && len(a.signedHeaders) > 0
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// authenticate verifies the request's signature by signing the same
// canonical request with the key's secret (the SDK's signer) and comparing.
// It returns the key, or an S3 error code and message.
func (s *Server) authenticate(r *http.Request, body []byte) (Key, string, string) {
	a, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return Key{}, "AccessDenied", "requests must be signed with AWS Signature Version 4 (Authorization: AWS4-HMAC-SHA256 ...)"
	}
	key, ok := s.key(a.keyID)
	if !ok {
		return Key{}, "InvalidAccessKeyId", "the access key does not exist"
	}
	if a.service != "s3" {
		return Key{}, "SignatureDoesNotMatch", "the credential scope's service must be s3"
	}
	signed, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || !sort.StringsAreSorted(a.signedHeaders) || !contains(a.signedHeaders, "host") || !contains(a.signedHeaders, "x-amz-date") {
		return Key{}, "AccessDenied", "the request must sign host and x-amz-date"
	}
	if d := s.now().Sub(signed); d > MaxSkew || d < -MaxSkew {
		return Key{}, "RequestTimeTooSkewed", "the request's time is more than 15 minutes from the server's"
	}
	if a.date != signed.Format("20060102") {
		return Key{}, "SignatureDoesNotMatch", "the credential scope's date is not the request's"
	}
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	payload := r.Header.Get("X-Amz-Content-Sha256")
	switch payload {
	case "":
		payload = actual
	case "UNSIGNED-PAYLOAD":
	default:
		if payload != actual {
			return Key{}, "XAmzContentSHA256Mismatch", "the body does not match x-amz-content-sha256"
		}
	}
	// Only the headers the client signed, with their values as received.
	c, err := http.NewRequestWithContext(context.Background(), r.Method, "https://"+r.Host, nil)
	if err != nil {
		return Key{}, "AccessDenied", "malformed request"
	}
	c.URL.Path, c.URL.RawPath, c.URL.RawQuery, c.Host = r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host
	for _, h := range a.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			c.ContentLength = r.ContentLength
		default:
			if vs := r.Header.Values(h); len(vs) > 0 {
				c.Header[http.CanonicalHeaderKey(h)] = vs
			} else {
				return Key{}, "SignatureDoesNotMatch", "signed header " + h + " is missing"
			}
		}
	}
	if !contains(a.signedHeaders, "content-length") {
		c.ContentLength = 0
	}
	creds := aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, c, payload, "s3", a.region, signed, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		return Key{}, "SignatureDoesNotMatch", "cannot sign the request"
	}
	want, ok := parseAuthorization(c.Header.Get("Authorization"))
	if !ok || strings.Join(want.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return Key{}, "SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided: check your key and signing method"
	}
	return key, "", ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// deleteRequest is the body of a multi-object delete (POST /bucket?delete).
type deleteRequest struct {
	Objects []struct {
		Key string `xml:"Key"`
	} `xml:"Object"`
}

// allowed applies the key's prefix policy: object reads, writes and deletes
// under a prefix, listings whose prefix is under one, multi-object deletes
// whose every key is; nothing on buckets themselves.
func allowed(k Key, r *http.Request, body []byte) bool {
	if len(k.Prefixes) == 0 {
		return true
	}
	bucket, object, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return false
	}
	under := func(p string) bool {
		for _, pre := range k.Prefixes {
			if strings.HasPrefix(bucket+"/"+p, pre) {
				return true
			}
		}
		return false
	}
	q := r.URL.Query()
	// pathItself is the repository's own path without its slash: whether
	// it exists is pgBackRest's first question (a HEAD of it as a file,
	// then a listing of its level).
	pathItself := func(p string) bool {
		for _, pre := range k.Prefixes {
			if bucket+"/"+p+"/" == pre {
				return true
			}
		}
		return false
	}
	switch {
	case object != "":
		return under(object) || r.Method == http.MethodHead && pathItself(object)
	case r.Method == http.MethodGet && q.Get("prefix") != "":
		// The path itself is listed a level at a time only (what
		// pgBackRest's documented IAM policies allow: "s3:prefix" equal to
		// the path with "s3:delimiter" /): only names of that level show,
		// and only those starting with the path's.
		return under(q.Get("prefix")) || q.Get("delimiter") == "/" && pathItself(q.Get("prefix"))
	case r.Method == http.MethodPost && q.Has("delete"):
		d := deleteRequest{}
		if xml.Unmarshal(body, &d) != nil || len(d.Objects) == 0 {
			return false
		}
		for _, o := range d.Objects {
			if !under(o.Key) {
				return false
			}
		}
		return true
	}
	return false
}
