package virtualmachine

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"google.golang.org/api/option"

	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/cloud"
	"github.com/quorumdb/quorum/internal/cloud/azure"
	"github.com/quorumdb/quorum/internal/cloud/gcp"
)

// dialAzure authenticates as a service principal.
func dialAzure(_ context.Context, c *v1alpha1.AzureConfig, creds []byte) (cloud.Cloud, error) {
	var sp struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		TenantID     string `json:"tenantId"`
	}
	if err := json.Unmarshal(creds, &sp); err != nil || sp.ClientID == "" || sp.TenantID == "" || sp.ClientSecret == "" {
		return nil, errors.New(`azure credentials must be JSON {"clientId", "clientSecret", "tenantId"}`)
	}
	opts := policy.ClientOptions{}
	if c.Endpoint != "" {
		opts.Cloud = azcloud.Configuration{
			ActiveDirectoryAuthorityHost: azcloud.AzurePublic.ActiveDirectoryAuthorityHost,
			Services:                     map[azcloud.ServiceName]azcloud.ServiceConfiguration{azcloud.ResourceManager: {Endpoint: c.Endpoint, Audience: azcloud.AzurePublic.Services[azcloud.ResourceManager].Audience}},
		}
	}
	cred, err := azidentity.NewClientSecretCredential(sp.TenantID, sp.ClientID, sp.ClientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions(opts)})
	if err != nil {
		return nil, errors.New("cannot build the Azure service principal credential: check tenantId and clientId")
	}
	return azure.New(c.SubscriptionID, cred, azure.Options{Compute: &arm.ClientOptions{ClientOptions: opts}, Network: &arm.ClientOptions{ClientOptions: opts}})
}

// dialGCP authenticates with a service-account key.
func dialGCP(ctx context.Context, c *v1alpha1.GCPConfig, creds []byte) (cloud.Cloud, error) {
	opts := []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, creds)}
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.Endpoint))
	}
	return gcp.New(ctx, c.Project, opts...)
}
