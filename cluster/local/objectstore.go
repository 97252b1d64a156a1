package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorumdb/quorum/internal/cloud/fakeapi"
	"github.com/quorumdb/quorum/internal/objectstore"
	"github.com/quorumdb/quorum/internal/objectstore/scopedkey"
)

// The object store every platform's backups go to, as the Composition's
// function input names it (compositions/xdatabase: backupRepository):
// on the datacenter's gateway, which every guest reaches and no guest
// owns, so a repository outlives every VM.
var objectStoreAddr = netip.AddrPortFrom(dcGateway.Addr(), 9000)

const (
	// BackupBucket holds every database's repository, under
	// <namespace>/<database>.
	BackupBucket = "quorum-backups"
	// BackupCredentialsSecret, in crossplane-system, holds the root secret
	// the provider derives each repository's own key from, and the store's
	// CA: app teams cannot read it, and no node ever gets the root.
	BackupCredentialsSecret = "quorum-backup-s3"
	// ObjectStoreAdminSecret, in crossplane-system, holds the platform's
	// key to the whole store (operators and tests list repositories with it).
	ObjectStoreAdminSecret = "quorum-objectstore-admin"
)

func (p *Platform) objectStoreDir() string { return filepath.Join(p.StateDir, "objectstore") }
func (p *Platform) scopeRootFile() string  { return filepath.Join(p.objectStoreDir(), "scope-root") }

// objectStoreKey is the platform's key to the whole store (the Secret
// quorum-objectstore-admin holds it).
func (p *Platform) objectStoreKey() (objectstore.Key, error) {
	var keys []objectstore.Key
	if err := readJSON(filepath.Join(p.objectStoreDir(), "keys.json"), &keys); err != nil || len(keys) == 0 {
		return objectstore.Key{}, fmt.Errorf("cannot read the object store's keys: %v", err)
	}
	return keys[0], nil
}

// startObjectStore runs quorum-objectstore on the gateway with a
// certificate from the platform CA and a generated key.
func (p *Platform) startObjectStore(ctx context.Context, _ *State) error {
	if err := os.MkdirAll(p.objectStoreDir(), 0o700); err != nil {
		return err
	}
	ca, err := readPair(p.pki(), "ca")
	if err != nil {
		return err
	}
	host := objectStoreAddr.Addr().String()
	srv, err := issue(ca, certRequest{CommonName: host, IPs: []net.IP{net.ParseIP(host)}, DNSNames: []string{host}, Server: true})
	if err != nil {
		return err
	}
	if err := srv.write(p.pki(), "objectstore"); err != nil {
		return err
	}
	keys, _ := json.Marshal([]objectstore.Key{{ID: "quorum-" + fakeapi.Random(8), Secret: fakeapi.Random(30)}})
	if err := os.WriteFile(filepath.Join(p.objectStoreDir(), "keys.json"), keys, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(p.scopeRootFile(), []byte(fakeapi.Random(32)), 0o600); err != nil {
		return err
	}
	return p.startWriting(ctx, process{Name: "objectstore", Path: p.bin("quorum-objectstore"), Args: []string{
		"--listen=" + objectStoreAddr.String(),
		"--tls-cert=" + filepath.Join(p.pki(), "objectstore.crt"),
		"--tls-key=" + filepath.Join(p.pki(), "objectstore.key"),
		"--db=" + filepath.Join(p.objectStoreDir(), "objects.db"),
		"--keys=" + filepath.Join(p.objectStoreDir(), "keys.json"),
		"--bucket=" + BackupBucket,
		"--scope-root-file=" + p.scopeRootFile(),
	}}, "the object store", func() error { return waitTCP(objectStoreAddr.String(), 0) })
}

// backupCredentials writes the Secrets of the store: the nodes' (a root
// secret the provider derives each repository's key from) and the
// platform's own key.
func (p *Platform) backupCredentials(ctx context.Context, kube client.Client) error {
	k, err := p.objectStoreKey()
	if err != nil {
		return err
	}
	ca, err := readPair(p.pki(), "ca")
	if err != nil {
		return err
	}
	root, err := os.ReadFile(p.scopeRootFile())
	if err != nil {
		return err
	}
	for name, data := range map[string]map[string][]byte{
		BackupCredentialsSecret: {scopedkey.SecretKey: root, "ca.crt": ca.Cert},
		ObjectStoreAdminSecret:  {"accessKeyID": []byte(k.ID), "secretAccessKey": []byte(k.Secret), "ca.crt": ca.Cert},
	} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: xpNamespace, Name: name}, Data: data}
		if err := kube.Create(ctx, sec); err != nil && !kerrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot create the Secret %s: %w", name, err)
		}
	}
	return nil
}
