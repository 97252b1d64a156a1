package gcp

import (
	"context"
	"encoding/json"
	"errors"

	"google.golang.org/api/option"

	"github.com/quorumdb/quorum/apis/v1alpha1"
)

// Dial authenticates with the service-account key in creds and returns a
// client for the ProviderConfig's project. Errors never quote the key.
func Dial(ctx context.Context, c *v1alpha1.GCPConfig, creds []byte) (*Client, error) {
	var key struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(creds, &key); err != nil || key.Type != "service_account" || key.ClientEmail == "" || key.PrivateKey == "" {
		return nil, errors.New(`gcp credentials must be a service-account key file (JSON with "type": "service_account", client_email and private_key)`)
	}
	opts := []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, creds)}
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.Endpoint))
	}
	return New(ctx, c.Project, opts...)
}
