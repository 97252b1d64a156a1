package xdatabase

import (
	"crypto/sha256"
	"sync/atomic"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/request"
	"google.golang.org/protobuf/proto"

	"github.com/quorumdb/quorum/functions/xdatabase/input/v1alpha1"
)

// decodedInput is a Composition's function input with its catalog (the
// defaults merged with the input's rows), read-only once built.
type decodedInput struct {
	key     [sha256.Size]byte
	in      *v1alpha1.Input
	catalog v1alpha1.Catalog
}

// inputCache holds the last input decoded. A Composition sends the same
// input on every call; decoding it (protojson, then JSON) and merging the
// catalog each time was a tenth of a call. The key is the input's
// deterministic encoding, so a changed input is decoded again.
type inputCache struct{ last atomic.Pointer[decodedInput] }

func (c *inputCache) get(req *fnv1.RunFunctionRequest) (*decodedInput, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(req.GetInput())
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(raw)
	if d := c.last.Load(); d != nil && d.key == key {
		return d, nil
	}
	in := &v1alpha1.Input{}
	if err := request.GetInput(req, in); err != nil {
		return nil, err
	}
	d := &decodedInput{key: key, in: in, catalog: catalog(in.Catalog)}
	c.last.Store(d)
	return d, nil
}
