package virtualmachine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/vsphere"
)

// Dial builds the Cloud a ProviderConfig describes. Credentials are a JSON
// document whose shape depends on the backend (see ProviderCredentials).
// Errors never quote the credentials.
func Dial(ctx context.Context, spec v1alpha1.ProviderConfigSpec, creds []byte) (cloud.Cloud, error) {
	switch {
	case spec.VSphere != nil:
		var c struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := json.Unmarshal(creds, &c); err != nil || c.Username == "" {
			return nil, errors.New(`vSphere credentials must be JSON {"username": ..., "password": ...}`)
		}
		return vsphere.Connect(ctx, vsphere.Config{
			URL: spec.VSphere.URL, Username: c.Username, Password: c.Password,
			Thumbprint: spec.VSphere.Thumbprint, Datacenter: spec.VSphere.Datacenter,
		})
	case spec.Azure != nil:
		return dialAzure(ctx, spec.Azure, creds)
	case spec.GCP != nil:
		return dialGCP(ctx, spec.GCP, creds)
	}
	return nil, fmt.Errorf("the ProviderConfig sets none of spec.vsphere, spec.azure or spec.gcp: set the one backend it drives")
}
