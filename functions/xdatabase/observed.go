package xdatabase

import (
	"encoding/json"
	"errors"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// obs is an observed composed resource read in place, as Crossplane sent
// it: the function reads a handful of fields of each, and converting every
// observed object to a map first (the SDK's way) was a tenth of its time.
type obs struct {
	s       *structpb.Struct
	details map[string][]byte
}

// observedResources indexes the request's observed composed resources.
func observedResources(req *fnv1.RunFunctionRequest) map[resource.Name]obs {
	rs := req.GetObserved().GetResources()
	out := make(map[resource.Name]obs, len(rs))
	for name, r := range rs {
		out[resource.Name(name)] = obs{s: r.GetResource(), details: r.GetConnectionDetails()}
	}
	return out
}

// get walks nested objects; nil when a key is missing.
func (o obs) get(keys ...string) *structpb.Value {
	return value(structpb.NewStructValue(o.s), keys...)
}

func value(v *structpb.Value, keys ...string) *structpb.Value {
	for _, k := range keys {
		s := v.GetStructValue()
		if s == nil {
			return nil
		}
		v = s.GetFields()[k]
	}
	return v
}

func (o obs) str(keys ...string) string { return o.get(keys...).GetStringValue() }
func (o obs) num(keys ...string) int64  { return int64(o.get(keys...).GetNumberValue()) }
func (o obs) list(keys ...string) []*structpb.Value {
	return o.get(keys...).GetListValue().GetValues()
}

// decode fills into from an object of the request.
func decode(v *structpb.Value, into any) error {
	if v == nil {
		return errors.New("no such field")
	}
	raw, err := protojson.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}
