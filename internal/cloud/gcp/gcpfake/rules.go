package gcpfake

import (
	"fmt"
	"net/netip"
	"regexp"
)

// Compute Engine's documented rules the fake enforces, refused with the
// API's "invalid" reason and message shape.
// https://cloud.google.com/compute/docs/naming-resources
// https://cloud.google.com/compute/docs/labeling-resources

// nameRule is RFC 1035 as Compute Engine applies it to instance and disk
// names: 1-63 characters.
var nameRule = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

func checkName(field, name string) (string, bool) {
	if !nameRule.MatchString(name) {
		return fmt.Sprintf("Invalid value for field '%s': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", field, name), false
	}
	return "", true
}

var (
	labelKey   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValue = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
)

// checkLabels: at most 64 labels; keys start with a lowercase letter, keys
// and values hold lowercase letters, digits, "_" and "-", 63 at most.
func checkLabels(labels map[string]string) (string, bool) {
	if len(labels) > 64 {
		return fmt.Sprintf("Invalid value for field 'resource.labels': %d labels, over the maximum of 64.", len(labels)), false
	}
	for k, v := range labels {
		if !labelKey.MatchString(k) {
			return fmt.Sprintf("Invalid value for field 'resource.labels': ''. Label key '%s' violates format constraints. The key must start with a lowercase character, can only contain lowercase letters, numeric characters, underscores and dashes. The key can be at most 63 characters long.", k), false
		}
		if !labelValue.MatchString(v) {
			return fmt.Sprintf("Invalid value for field 'resource.labels': ''. Label value '%s' violates format constraints. The value can only contain lowercase letters, numeric characters, underscores and dashes. The value can be at most 63 characters long.", v), false
		}
	}
	return "", true
}

// reserved reports whether Compute Engine keeps a for itself: the network
// and gateway addresses (the first two) and the last two of the range.
// https://cloud.google.com/vpc/docs/subnets#unusable-ip-addresses-in-every-subnet
func reserved(p netip.Prefix, a netip.Addr) bool {
	first := p.Masked().Addr()
	if a == first || a == first.Next() {
		return true
	}
	b := first.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	last, _ := netip.AddrFromSlice(b)
	return a == last || a == last.Prev()
}
