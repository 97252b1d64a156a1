package virtualmachine

import (
	"context"
	"errors"

	"google.golang.org/api/option"

	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/gcp"
)

// The Azure backend is not built yet; a ProviderConfig naming it gets this
// error as the VirtualMachine's Synced condition.
func dialAzure(context.Context, *v1alpha1.AzureConfig, []byte) (cloud.Cloud, error) {
	return nil, errors.New("the Azure backend is not implemented yet: use a vSphere or GCP ProviderConfig")
}

// dialGCP authenticates with a service-account key.
func dialGCP(ctx context.Context, c *v1alpha1.GCPConfig, creds []byte) (cloud.Cloud, error) {
	opts := []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, creds)}
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.Endpoint))
	}
	return gcp.New(ctx, c.Project, opts...)
}
