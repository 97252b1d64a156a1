package virtualmachine

import (
	"testing"

	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"

	"github.com/quorumdb/quorum/apis/v1alpha1"
)

func TestNamespacedCredentials(t *testing.T) {
	secret := func(ns string) v1alpha1.ProviderCredentials {
		return v1alpha1.ProviderCredentials{Source: xpv2.CredentialsSourceSecret, CommonCredentialSelectors: xpv2.CommonCredentialSelectors{
			SecretRef: &xpv2.SecretKeySelector{SecretReference: xpv2.SecretReference{Name: "creds", Namespace: ns}, Key: "credentials"}}}
	}
	cases := map[string]struct {
		creds   v1alpha1.ProviderCredentials
		wantErr bool
	}{
		"OwnNamespace":    {creds: secret("team-a")},
		"OtherNamespace":  {creds: secret("crossplane-system"), wantErr: true},
		"ProviderEnv":     {creds: v1alpha1.ProviderCredentials{Source: xpv2.CredentialsSourceEnvironment}, wantErr: true},
		"ProviderFiles":   {creds: v1alpha1.ProviderCredentials{Source: xpv2.CredentialsSourceFilesystem}, wantErr: true},
		"NoneIsNotSecret": {creds: v1alpha1.ProviderCredentials{Source: xpv2.CredentialsSourceNone}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := NamespacedCredentials("team-a", "pc", tc.creds)
			if (err != nil) != tc.wantErr {
				t.Errorf("NamespacedCredentials: %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
