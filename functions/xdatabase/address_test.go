package xdatabase

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
)

func TestAllocate(t *testing.T) {
	pool := v1alpha1.AddressPool{First: "10.0.0.10", Last: "10.0.0.29"}
	cases := map[string]struct {
		pool    v1alpha1.AddressPool
		n       int
		wantErr string
	}{
		"ThreeInBlock": {pool: pool, n: 3},
		"OneInBlock":   {pool: pool, n: 1},
		"TooManyNodes": {pool: pool, n: 5, wantErr: "a tier of 5 nodes needs more than the 4 addresses a database reserves"},
		"TooSmall":     {pool: v1alpha1.AddressPool{First: "10.0.0.10", Last: "10.0.0.11"}, n: 1, wantErr: "addressPool must span at least 4 addresses"},
		"Reversed":     {pool: v1alpha1.AddressPool{First: "10.0.0.20", Last: "10.0.0.10"}, n: 1, wantErr: "addressPool must span at least 4 addresses"},
		"NotAnAddress": {pool: v1alpha1.AddressPool{First: "ten", Last: "10.0.0.10"}, n: 1, wantErr: `addressPool.first: ParseAddr("ten"): unable to parse IP`},
		"IPv6Refused":  {pool: v1alpha1.AddressPool{First: "fd00::1", Last: "fd00::ff"}, n: 1, wantErr: "addressPool.first and addressPool.last must be IPv4 addresses"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := allocate(tc.pool, "team-a/orders", tc.n)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, gotErr); diff != "" {
				t.Fatalf("allocate() error: -want, +got:\n%s", diff)
			}
			if tc.wantErr != "" {
				return
			}
			lo, hi := netip.MustParseAddr(tc.pool.First), netip.MustParseAddr(tc.pool.Last)
			for i, a := range got {
				if a.Less(lo) || hi.Less(a) {
					t.Errorf("address %d = %s outside pool %s-%s", i, a, lo, hi)
				}
				if i > 0 && a != got[i-1].Next() {
					t.Errorf("addresses not consecutive: %v", got)
				}
			}
			again, _ := allocate(tc.pool, "team-a/orders", tc.n)
			if diff := cmp.Diff(got, again, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("allocate() not stable: -first, +second:\n%s", diff)
			}
		})
	}
}
