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
