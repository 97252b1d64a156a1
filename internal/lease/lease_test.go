package lease

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/quorumdb/quorum/apis/v1alpha1"
)

func kube(t *testing.T) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.SchemeBuilder.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).Build()
}

func holder(i int) v1alpha1.AddressHolder {
	return v1alpha1.AddressHolder{Namespace: fmt.Sprintf("team-%d", i%7), Name: fmt.Sprintf("db-%d", i), UID: fmt.Sprintf("uid-%d", i)}
}

var net1 = Network{Platform: "vsphere:https://vc1.example/sdk", Name: "VM Network"}

// TestConcurrentClaims: 50 VMs claim at once from a range of 40: 40 get
// distinct addresses, 10 are told the range is exhausted.
func TestConcurrentClaims(t *testing.T) {
	k := kube(t)
	l := Leaser{Kube: k}
	first, last := netip.MustParseAddr("10.77.0.16"), netip.MustParseAddr("10.77.0.55")
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	exhausted := 0
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := l.Take(context.Background(), net1, first, last, holder(i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrExhausted):
				exhausted++
			case err != nil:
				t.Errorf("holder %d: %v", i, err)
			default:
				if prev, ok := got[a]; ok {
					t.Errorf("%s handed to %s and db-%d", a, prev, i)
				}
				got[a] = fmt.Sprintf("db-%d", i)
			}
		}()
	}
	wg.Wait()
	if len(got) != 40 || exhausted != 10 {
		t.Errorf("want 40 addresses and 10 exhausted, got %d and %d", len(got), exhausted)
	}
	for a := range got {
		if a.Less(first) || last.Less(a) {
			t.Errorf("%s is outside the range", a)
		}
	}
}

func TestHoldTakeRelease(t *testing.T) {
	ctx := context.Background()
	k := kube(t)
	l := Leaser{Kube: k}
	first, last := netip.MustParseAddr("10.77.0.16"), netip.MustParseAddr("10.77.0.19")
	a, b := holder(1), holder(2)

	// A static address is held once; its holder may claim it again.
	if err := l.Hold(ctx, net1, first, a); err != nil {
		t.Fatal(err)
	}
	if err := l.Hold(ctx, net1, first, a); err != nil {
		t.Fatalf("Hold again by its holder: %v", err)
	}
	err := l.Hold(ctx, net1, first, b)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "held by VirtualMachine team-1/db-1") {
		t.Fatalf("Hold of a held address: want ErrHeld naming the holder, got %v", err)
	}
	// The same address on another network (or another platform's network
	// of the same name) is another address.
	if err := l.Hold(ctx, Network{Platform: "vsphere:https://vc2.example/sdk", Name: "VM Network"}, first, b); err != nil {
		t.Fatalf("Hold on another network: %v", err)
	}
	// Take skips held addresses and is idempotent for its holder.
	got, err := l.Take(ctx, net1, first, last, b)
	if err != nil || got != first.Next() {
		t.Fatalf("Take: want %s, got %s, %v", first.Next(), got, err)
	}
	again, err := l.Take(ctx, net1, first, last, b)
	if err != nil || again != got {
		t.Fatalf("Take again: want %s, got %s, %v", got, again, err)
	}
	// Released, the address is free for the next VM; never before.
	if err := l.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	c := holder(3)
	if got, err := l.Take(ctx, net1, first, last, c); err != nil || got != first {
		t.Fatalf("Take after release: want %s, got %s, %v", first, got, err)
	}
	list := &v1alpha1.AddressLeaseList{}
	if err := k.List(ctx, list); err != nil {
		t.Fatal(err)
	}
	var holders []string
	for _, le := range list.Items {
		holders = append(holders, le.Spec.Address+" "+le.Spec.Holder.Name)
	}
	if diff := cmp.Diff([]string{"10.77.0.16 db-2", "10.77.0.16 db-3", "10.77.0.17 db-2"}, slices.Sorted(slices.Values(holders))); diff != "" {
		t.Errorf("leases: -want, +got:\n%s", diff)
	}
	if _, err := l.Take(ctx, net1, last, first, c); err == nil || !strings.Contains(err.Error(), "is not a range") {
		t.Errorf("reversed range: %v", err)
	}
}

// TestNames: every lease name is a valid object name, IPv6 included.
func TestNames(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	for _, a := range []string{"10.77.0.16", "::1", "fd00::1", "2001:db8::ff00:42:8329"} {
		n := Name(net1, netip.MustParseAddr(a))
		if !valid.MatchString(n) || len(n) > 253 {
			t.Errorf("%s: lease name %q is not a valid object name", a, n)
		}
	}
	if Name(net1, netip.MustParseAddr("fd00::1")) == Name(net1, netip.MustParseAddr("fd00::2")) {
		t.Error("two addresses, one name")
	}
}
