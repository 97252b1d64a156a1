// Package lease hands out network addresses to VMs through AddressLease
// objects, one per address, named after the network and the address: the
// API server refuses a second object of the same name, so two VMs never
// hold one address, however many claim at once and whichever provider
// replica or process does it. No state lives in the provider.
package lease

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorumdb/quorum/apis/v1alpha1"
)

// Labels that let a holder's leases and a network's leases be listed
// without reading every lease.
const (
	LabelNetwork = "quorum.dev/network"
	LabelHolder  = "quorum.dev/holder-uid"
)

// maxScan bounds how many addresses of a range are considered: an IPv6
// range can hold more than a claim could ever walk.
const maxScan = 1 << 16

// ErrExhausted is returned when every address of a range is held.
var ErrExhausted = errors.New("address range exhausted")

// ErrHeld is returned when another VM holds the address.
var ErrHeld = errors.New("address held by another VirtualMachine")

// Network identifies the network addresses are unique on: the same
// network name on two platforms (two vCenters, two projects) is two
// networks, and two ProviderConfigs of one platform share its networks.
type Network struct {
	// Platform is the platform's identity: "vsphere:<vCenter URL>",
	// "azure:<subscription>", "gcp:<project>".
	Platform string
	Name     string
}

// id is a short stable digest of the network, for names and labels.
func (n Network) id() string {
	sum := sha256.Sum256([]byte(n.Platform + "\x00" + n.Name))
	return hex.EncodeToString(sum[:8])
}

// Name is the lease name of addr on n: "<network id>.<address>", an IPv6
// address written as "v6-" and its 32 hex digits (its usual form has
// colons, and "::1" would start a name part with a dash).
func Name(n Network, addr netip.Addr) string {
	if addr.Is4() {
		return n.id() + "." + addr.String()
	}
	b := addr.As16()
	return n.id() + ".v6-" + hex.EncodeToString(b[:])
}

// Leaser holds and releases leases with a Kubernetes client.
type Leaser struct {
	Kube client.Client
}

// Hold makes sure h holds addr on n: it creates the lease, or finds it
// already h's. Another holder's lease is ErrHeld, naming the holder.
func (l Leaser) Hold(ctx context.Context, n Network, addr netip.Addr, h v1alpha1.AddressHolder) error {
	// Read first: a VM holds its lease for life and is observed on every
	// poll; the read is served from the provider's cache.
	cur := &v1alpha1.AddressLease{}
	err := l.Kube.Get(ctx, client.ObjectKey{Name: Name(n, addr)}, cur)
	if kerrors.IsNotFound(err) {
		err = l.Kube.Create(ctx, lease(n, addr, h))
		if err == nil {
			return nil
		}
		if !kerrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot lease %s on network %s: %w", addr, n.Name, err)
		}
		// Created meanwhile: read it again to name its holder.
		err = l.Kube.Get(ctx, client.ObjectKey{Name: Name(n, addr)}, cur)
	}
	if err != nil {
		return fmt.Errorf("cannot read the lease of %s on network %s: %w", addr, n.Name, err)
	}
	if cur.Spec.Holder.UID == h.UID {
		return nil
	}
	return fmt.Errorf("%w: %s on network %s is held by VirtualMachine %s/%s (AddressLease %s)", ErrHeld, addr, n.Name, cur.Spec.Holder.Namespace, cur.Spec.Holder.Name, cur.Name)
}

// Take returns the address h holds in [first, last] on n, else leases the
// lowest free one. A claim that loses a race for an address moves on to
// the next.
func (l Leaser) Take(ctx context.Context, n Network, first, last netip.Addr, h v1alpha1.AddressHolder) (netip.Addr, error) {
	if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() || last.Less(first) {
		return netip.Addr{}, fmt.Errorf("address range %s-%s is not a range: first and last must be addresses of one family, first not after last", first, last)
	}
	list := &v1alpha1.AddressLeaseList{}
	if err := l.Kube.List(ctx, list, client.MatchingLabels{LabelNetwork: n.id()}); err != nil {
		return netip.Addr{}, fmt.Errorf("cannot list the leases of network %s: %w", n.Name, err)
	}
	held := map[netip.Addr]bool{}
	for _, le := range list.Items {
		a, err := netip.ParseAddr(le.Spec.Address)
		if err != nil {
			continue
		}
		if le.Spec.Holder.UID == h.UID && !a.Less(first) && !last.Less(a) {
			return a, nil
		}
		held[a] = true
	}
	var free []netip.Addr
	for a := first; a.IsValid() && !last.Less(a) && len(free) < maxScan; a = a.Next() {
		if !held[a] {
			free = append(free, a)
		}
	}
	// The lowest free address first; if another claim took it meanwhile,
	// the others from a place of this holder's own, so that claims made at
	// once spread over the range instead of all racing for the next one.
	order := free
	if len(free) > 1 {
		rest := free[1:]
		sum := sha256.Sum256([]byte(h.UID))
		start := int(binary.BigEndian.Uint32(sum[:4]) % uint32(len(rest)))
		order = append([]netip.Addr{free[0]}, append(append([]netip.Addr{}, rest[start:]...), rest[:start]...)...)
	}
	for _, a := range order {
		err := l.Kube.Create(ctx, lease(n, a, h))
		if err == nil {
			return a, nil
		}
		if !kerrors.IsAlreadyExists(err) {
			return netip.Addr{}, fmt.Errorf("cannot lease %s on network %s: %w", a, n.Name, err)
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: every address from %s to %s on network %s is held: widen the range or delete unused VMs", ErrExhausted, first, last, n.Name)
}

// Release deletes the leases h holds. Call it only once the platform has
// said h's VM is gone: until then its address is in use.
func (l Leaser) Release(ctx context.Context, h v1alpha1.AddressHolder) error {
	list := &v1alpha1.AddressLeaseList{}
	if err := l.Kube.List(ctx, list, client.MatchingLabels{LabelHolder: h.UID}); err != nil {
		return fmt.Errorf("cannot list the address leases of VirtualMachine %s/%s: %w", h.Namespace, h.Name, err)
	}
	for i := range list.Items {
		le := &list.Items[i]
		// The label is only an index: the spec says who holds it.
		if le.Spec.Holder.UID != h.UID {
			continue
		}
		if err := l.Kube.Delete(ctx, le, client.Preconditions{UID: &le.UID}); err != nil && !kerrors.IsNotFound(err) {
			return fmt.Errorf("cannot release address %s of VirtualMachine %s/%s: %w", le.Spec.Address, h.Namespace, h.Name, err)
		}
	}
	return nil
}

func lease(n Network, addr netip.Addr, h v1alpha1.AddressHolder) *v1alpha1.AddressLease {
	return &v1alpha1.AddressLease{
		ObjectMeta: metav1.ObjectMeta{Name: Name(n, addr), Labels: map[string]string{LabelNetwork: n.id(), LabelHolder: h.UID}},
		Spec:       v1alpha1.AddressLeaseSpec{Network: n.Name, Platform: n.Platform, Address: addr.String(), Holder: h},
	}
}
