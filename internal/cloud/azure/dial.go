package azure

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/quorumdb/quorum/apis/v1alpha1"
)

// Credentials is the service principal a ProviderConfig's Secret holds.
type Credentials struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	TenantID     string `json:"tenantId"`
}

// Dial signs in as the service principal in creds and returns a client for
// the ProviderConfig's subscription. Errors never quote the secret.
func Dial(c *v1alpha1.AzureConfig, creds []byte) (*Client, error) {
	var sp Credentials
	if err := json.Unmarshal(creds, &sp); err != nil || sp.ClientID == "" || sp.TenantID == "" || sp.ClientSecret == "" {
		return nil, errors.New(`azure credentials must be JSON {"clientId", "clientSecret", "tenantId"}`)
	}
	cfg := cloudConfig(c)
	opts := policy.ClientOptions{Cloud: cfg}
	cred, err := azidentity.NewClientSecretCredential(sp.TenantID, sp.ClientID, sp.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions(opts),
		// Instance discovery asks Microsoft's public authority about the
		// authority in use; an authority of a sovereign cloud or Azure
		// Stack is not Microsoft's to vouch for.
		DisableInstanceDiscovery: c.ActiveDirectoryEndpoint != "",
	})
	if err != nil {
		return nil, errors.New("cannot build the Azure service principal credential: check tenantId and clientId")
	}
	return New(c.SubscriptionID, cred, Options{Compute: &arm.ClientOptions{ClientOptions: opts}, Network: &arm.ClientOptions{ClientOptions: opts}})
}

// cloudConfig is Azure public cloud with the ProviderConfig's endpoints in
// place of its own.
func cloudConfig(c *v1alpha1.AzureConfig) azcloud.Configuration {
	cfg := azcloud.AzurePublic
	if c.ActiveDirectoryEndpoint != "" {
		cfg.ActiveDirectoryAuthorityHost = strings.TrimSuffix(c.ActiveDirectoryEndpoint, "/") + "/"
	}
	if c.Endpoint != "" {
		rm := cfg.Services[azcloud.ResourceManager]
		cfg.Services = map[azcloud.ServiceName]azcloud.ServiceConfiguration{azcloud.ResourceManager: {Endpoint: c.Endpoint, Audience: rm.Audience}}
	}
	return cfg
}
