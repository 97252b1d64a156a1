// Package fakeapi holds what the fake clouds (azurefake, gcpfake) share:
// tokens and identifiers from crypto/rand, JSON answers, and the log of the
// calls they served.
package fakeapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
)

// Endpoints is what quorum-fakecloud writes for the local platform: where
// each fake cloud listens and the credentials it generated.
type Endpoints struct {
	Azure AzureEndpoint `json:"azure"`
	GCP   GCPEndpoint   `json:"gcp"`
	// InventoryToken is the bearer of /_fakecloud/ (the guest agent's view).
	InventoryToken string `json:"inventoryToken"`
}

// AzureEndpoint is the fake Azure: ARM and Entra ID share its URL.
type AzureEndpoint struct {
	URL            string `json:"url"`
	TenantID       string `json:"tenantId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	SubscriptionID string `json:"subscriptionId"`
}

// GCPEndpoint is the fake Compute Engine and its service-account key file.
type GCPEndpoint struct {
	URL     string          `json:"url"`
	Project string          `json:"project"`
	KeyFile json.RawMessage `json:"keyFile"`
}

// Random returns n random bytes, hex encoded.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// JSON answers v with the status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Calls is a log of the requests a fake served, for tests' assertions.
type Calls struct {
	mu    sync.Mutex
	calls []string
}

// Add records one call.
func (c *Calls) Add(call string) {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
}

// List returns the calls so far, in order.
func (c *Calls) List() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Disk is a data disk in a fake cloud's inventory: where the guest finds
// it (the cloud's own device path) and its size.
type Disk struct {
	Path    string
	SizeGiB int32
}
