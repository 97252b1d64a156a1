package admission

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorumdb/quorum/apis/v1alpha1"
	"github.com/quorumdb/quorum/internal/lease"
)

// TestAddressesUniqueOnOnePool: 200 VMs of 50 namespaces claim addresses
// from one pool at once, through the real API server (the provider's
// lease, not a fake): every address is distinct, and released they are
// all free again.
func TestAddressesUniqueOnOnePool(t *testing.T) {
	setup(t)
	cfgKube, err := platform.Client()
	if err != nil {
		t.Fatal(err)
	}
	s := cfgKube.Scheme()
	if err := v1alpha1.SchemeBuilder.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The AddressLease API comes with the provider package.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		err := cfgKube.List(ctx, &v1alpha1.AddressLeaseList{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AddressLease not served: %v", err)
		}
		if cfgKube, err = platform.Client(); err != nil {
			t.Fatal(err)
		}
		_ = v1alpha1.SchemeBuilder.AddToScheme(cfgKube.Scheme())
	}
	l := lease.Leaser{Kube: cfgKube}
	n := lease.Network{Platform: "vsphere:https://admission.test/sdk", Name: "VM Network"}
	first, last := netip.MustParseAddr("10.77.0.16"), netip.MustParseAddr("10.77.0.255")
	holders := make([]v1alpha1.AddressHolder, 200)
	for i := range holders {
		holders[i] = v1alpha1.AddressHolder{Namespace: fmt.Sprintf("team-%02d", i%50), Name: fmt.Sprintf("db-%d-0", i/50), UID: fmt.Sprintf("uid-%03d", i)}
	}
	got := make([]netip.Addr, len(holders))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			a, err := l.Take(ctx, n, first, last, holders[i])
			if err != nil {
				t.Errorf("%s/%s: %v", holders[i].Namespace, holders[i].Name, err)
			}
			got[i] = a
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	for i, a := range got {
		if j, ok := seen[a]; ok && a.IsValid() {
			t.Errorf("%s given to %s/%s and %s/%s", a, holders[j].Namespace, holders[j].Name, holders[i].Namespace, holders[i].Name)
		}
		seen[a] = i
	}
	if len(seen) != len(holders) {
		t.Errorf("want %d distinct addresses, got %d", len(holders), len(seen))
	}
	for _, h := range holders {
		if err := l.Release(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	left := &v1alpha1.AddressLeaseList{}
	if err := cfgKube.List(ctx, left, client.MatchingLabels{lease.LabelNetwork: lease.Name(n, first)[:16]}); err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 0 {
		t.Errorf("%d leases left after every holder released", len(left.Items))
	}
}
