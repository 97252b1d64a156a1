package virtualmachine

import (
	"context"

	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/azure"
	"github.com/quorumdb/quorum/internal/cloud/gcp"
)

func dialAzure(_ context.Context, c *v1alpha1.AzureConfig, creds []byte) (cloud.Cloud, error) {
	return azure.Dial(c, creds)
}

func dialGCP(ctx context.Context, c *v1alpha1.GCPConfig, creds []byte) (cloud.Cloud, error) {
	return gcp.Dial(ctx, c, creds)
}
