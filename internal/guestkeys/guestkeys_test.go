package guestkeys

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestUserDataRoundTrip(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	priv, auth, err := ParseUserData(k.UserData("vm-1"))
	if err != nil {
		t.Fatal(err)
	}
	if auth != k.LoginPublic {
		t.Errorf("authorized key: got %q, want %q", auth, k.LoginPublic)
	}
	signer, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatalf("host key does not parse back: %v", err)
	}
	if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); got != k.HostPublic {
		t.Errorf("host key: public part %q, want %q", got, k.HostPublic)
	}
	if _, _, err := ParseUserData("#cloud-config\n"); err == nil {
		t.Error("want an error for user data without keys")
	}
}
