// Package scopedkey derives an object store key that reaches one prefix
// only, from a root secret only the platform holds (the provider, and the
// store that verifies it). Each repository gets its own key: a node can
// read and write its cluster's repository and nothing else in the bucket,
// so one database cannot read another's backups, and no per-database key
// needs provisioning. The key's ID names its prefix; its secret is an HMAC
// of the ID under the root secret, as session credentials scoped by a
// policy are on stores with an STS.
package scopedkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path"
	"strings"
)

// SecretKey is the key, in a repository's credentials Secret, of a root
// secret the provider derives the repository's own key from (it never
// reaches a node).
const SecretKey = "scopeRoot"

// idPrefix marks scoped key IDs (and their derivation's version).
const idPrefix = "QS1"

// Derive returns the key ID and secret reaching bucket/prefix/ and below.
func Derive(root, bucket, prefix string) (id, secret string) {
	scope := bucket + "/" + strings.Trim(path.Clean("/"+prefix), "/") + "/"
	id = idPrefix + base64.RawURLEncoding.EncodeToString([]byte(scope))
	m := hmac.New(sha256.New, []byte(root))
	m.Write([]byte(id))
	return id, hex.EncodeToString(m.Sum(nil))
}

// Scope returns what a scoped key ID reaches ("bucket/prefix/"), or an
// error for an ID that is not one.
func Scope(id string) (string, error) {
	rest, ok := strings.CutPrefix(id, idPrefix)
	if !ok {
		return "", errors.New("not a scoped key")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || !strings.HasSuffix(string(b), "/") || strings.Count(string(b), "/") < 2 {
		return "", errors.New("malformed scoped key")
	}
	return string(b), nil
}
