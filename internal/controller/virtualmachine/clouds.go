package virtualmachine

import (
	"context"
	"errors"

	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
)

// The Azure and GCP backends are not built yet; a ProviderConfig naming them
// gets this error as the VirtualMachine's Synced condition.
func dialAzure(context.Context, *v1alpha1.AzureConfig, []byte) (cloud.Cloud, error) {
	return nil, errors.New("the Azure backend is not implemented yet: use a vSphere ProviderConfig")
}

func dialGCP(context.Context, *v1alpha1.GCPConfig, []byte) (cloud.Cloud, error) {
	return nil, errors.New("the GCP backend is not implemented yet: use a vSphere ProviderConfig")
}
