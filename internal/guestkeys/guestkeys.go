// Package guestkeys generates the SSH keys of a VM's guest before the VM
// exists, keeps them in a Secret so a crash never loses them, and renders the
// cloud-init user data that installs them. The host key is therefore known
// in advance and can be pinned by whoever connects.
package guestkeys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of a guest.
type Keys struct {
	// HostPrivate and HostPublic are the guest sshd's host key.
	HostPrivate []byte
	HostPublic  string
	// LoginPrivate logs in as root; LoginPublic goes to authorized_keys.
	LoginPrivate []byte
	LoginPublic  string
}

// Secret keys.
const (
	keyHostPrivate  = "hostKey"
	keyHostPublic   = "hostKey.pub"
	keyLoginPrivate = "privateKey"
	keyLoginPublic  = "publicKey"
)

// Generate makes a new pair of ed25519 keys for a guest.
func Generate() (Keys, error) {
	pair := func() ([]byte, string, error) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, "", err
		}
		blk, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return nil, "", err
		}
		sp, err := ssh.NewPublicKey(pub)
		if err != nil {
			return nil, "", err
		}
		return pem.EncodeToMemory(blk), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), nil
	}
	var k Keys
	var err error
	if k.HostPrivate, k.HostPublic, err = pair(); err != nil {
		return k, err
	}
	k.LoginPrivate, k.LoginPublic, err = pair()
	return k, err
}

// Ensure returns the guest's keys from the Secret, creating it with fresh
// keys on first use. The Secret is owned by owner so it goes with it.
func Ensure(ctx context.Context, kube client.Client, namespace, name string, owner metav1.OwnerReference) (Keys, error) {
	s := &corev1.Secret{}
	err := kube.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)
	if kerrors.IsNotFound(err) {
		k, gerr := Generate()
		if gerr != nil {
			return Keys{}, fmt.Errorf("cannot generate guest SSH keys: %w", gerr)
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, OwnerReferences: []metav1.OwnerReference{owner}},
			Type:       corev1.SecretTypeOpaque,
			Data: map[string][]byte{
				keyHostPrivate: k.HostPrivate, keyHostPublic: []byte(k.HostPublic),
				keyLoginPrivate: k.LoginPrivate, keyLoginPublic: []byte(k.LoginPublic),
			},
		}
		if err := kube.Create(ctx, s); err == nil {
			return k, nil
		} else if !kerrors.IsAlreadyExists(err) {
			return Keys{}, fmt.Errorf("cannot store guest SSH keys in Secret %s: %w", name, err)
		}
		// Lost a race with another reconcile: use what it stored.
		err = kube.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)
	}
	if err != nil {
		return Keys{}, fmt.Errorf("cannot read guest SSH keys from Secret %s: %w", name, err)
	}
	k := Keys{HostPrivate: s.Data[keyHostPrivate], HostPublic: string(s.Data[keyHostPublic]), LoginPrivate: s.Data[keyLoginPrivate], LoginPublic: string(s.Data[keyLoginPublic])}
	if len(k.HostPrivate) == 0 || len(k.LoginPrivate) == 0 {
		return Keys{}, fmt.Errorf("secret %s lacks %s or %s: delete it to have new keys generated", name, keyHostPrivate, keyLoginPrivate)
	}
	return k, nil
}

// UserData is the cloud-init document installing the keys.
func (k Keys) UserData(hostname string) string {
	indent := func(b []byte) string {
		return "    " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ")
	}
	return fmt.Sprintf(`#cloud-config
hostname: %s
ssh_deletekeys: true
ssh_genkeytypes: []
ssh_keys:
  ed25519_private: |
%s
  ed25519_public: %s
disable_root: false
users:
  - name: root
    ssh_authorized_keys:
      - %s
`, hostname, indent(k.HostPrivate), k.HostPublic, k.LoginPublic)
}

// ParseUserData reads back the host private key and the authorized login key
// from user data made by UserData. The local datacenter uses it to give a
// simulated VM's guest the keys a real cloud-init would install.
func ParseUserData(ud string) (hostPrivate []byte, authorized string, err error) {
	lines := strings.Split(ud, "\n")
	var key []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "  ed25519_private: |"):
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "    "); i++ {
				key = append(key, strings.TrimPrefix(lines[i], "    "))
			}
			i--
		case strings.HasPrefix(l, "    ssh_authorized_keys:") && i+1 < len(lines):
			authorized = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i+1]), "- "))
		}
	}
	if len(key) == 0 || authorized == "" {
		return nil, "", fmt.Errorf("user data carries no ed25519 host key or authorized key")
	}
	return []byte(strings.Join(key, "\n") + "\n"), authorized, nil
}
