package xdatabase

import (
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
)

// TestInputCache: an unchanged input is decoded once; a changed one again.
func TestInputCache(t *testing.T) {
	var c inputCache
	a1, err := c.get(&fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput)})
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := c.get(&fnv1.RunFunctionRequest{Input: resource.MustStructJSON(testInput)})
	if a1 != a2 {
		t.Error("the same input was decoded twice")
	}
	other := `{"apiVersion": "xdatabase.fn.quorum.dev/v1alpha1", "kind": "Input", "addressPool": {"cidr": "10.0.0.0/24", "first": "10.0.0.4", "last": "10.0.0.40", "network": "n"}}`
	b, err := c.get(&fnv1.RunFunctionRequest{Input: resource.MustStructJSON(other)})
	if err != nil {
		t.Fatal(err)
	}
	if b == a1 || b.in.AddressPool.First != "10.0.0.4" {
		t.Errorf("a changed input was not decoded again: %+v", b.in.AddressPool)
	}
}
