package xdatabase

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"

	"github.com/crossplane/function-sdk-go/errors"

	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
)

// blockSize is how many addresses each database reserves: three nodes and a
// spare, so blocks stay aligned whatever the tier.
const blockSize = 4

// allocate picks n consecutive addresses in the pool for one database. The
// block is chosen by hashing the database's namespace and name, so it is
// stable without state; the caller records it in the XDatabase's status and
// reuses it from there.
func allocate(pool v1alpha1.AddressPool, key string, n int) ([]netip.Addr, error) {
	first, err := netip.ParseAddr(pool.First)
	if err != nil {
		return nil, errors.Wrap(err, "addressPool.first")
	}
	last, err := netip.ParseAddr(pool.Last)
	if err != nil {
		return nil, errors.Wrap(err, "addressPool.last")
	}
	if !first.Is4() || !last.Is4() {
		return nil, errors.New("addressPool.first and addressPool.last must be IPv4 addresses")
	}
	if n > blockSize {
		return nil, errors.Errorf("a tier of %d nodes needs more than the %d addresses a database reserves", n, blockSize)
	}
	lo, hi := binary.BigEndian.Uint32(first.AsSlice()), binary.BigEndian.Uint32(last.AsSlice())
	if hi < lo || hi-lo+1 < blockSize {
		return nil, errors.Errorf("addressPool must span at least %d addresses", blockSize)
	}
	blocks := (hi - lo + 1) / blockSize
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	base := lo + (h.Sum32()%blocks)*blockSize
	out := make([]netip.Addr, n)
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+uint32(i))
		out[i] = netip.AddrFrom4(b)
	}
	return out, nil
}
