package azurefake

import (
	"fmt"
	"net/netip"
	"strings"
)

// Azure's documented naming and tagging rules the fake enforces, each
// refused with ARM's error code and message shape.
// https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
// https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources

// checkResource refuses a resource's name and tags as ARM does.
func checkResource(kind, name string, maxName int, tags map[string]*string) (code, msg string, ok bool) {
	if code, msg, ok := checkName(kind, name, maxName); !ok {
		return code, msg, false
	}
	return checkTags(tags)
}

// checkTags refuses tag names with reserved characters, and more tags or
// longer names and values than Azure holds.
func checkTags(tags map[string]*string) (code, msg string, ok bool) {
	if len(tags) > 50 {
		return "InvalidTagCount", fmt.Sprintf("The number of tags %d exceeds the maximum of 50.", len(tags)), false
	}
	var bad []string
	for k, v := range tags {
		if strings.ContainsAny(k, `<>%&\?/`) || strings.IndexFunc(k, func(r rune) bool { return r < 0x20 }) >= 0 {
			bad = append(bad, k)
			continue
		}
		if len(k) > 512 || (v != nil && len(*v) > 256) {
			return "InvalidTagNameOrValueLength", fmt.Sprintf("Tag name '%s' or its value exceeds the maximum length (512 for names, 256 for values).", k), false
		}
	}
	if len(bad) > 0 {
		return "InvalidTagNameCharacters", fmt.Sprintf("The tag names '%s' have reserved characters '<,>,%%,&,\\,?,/' or control characters.", strings.Join(bad, ",")), false
	}
	return "", "", true
}

// checkName refuses a resource name Azure refuses: VM names are 1-64
// characters (a Linux computer name too), NIC names 1-80, neither with
// the characters below nor ending with a period.
func checkName(kind, name string, max int) (code, msg string, ok bool) {
	if len(name) < 1 || len(name) > max || strings.ContainsAny(name, `\/"'[]:|<>+=;,?*@& `) || strings.HasSuffix(name, ".") {
		return "InvalidResourceName", fmt.Sprintf("Resource name %s is invalid. The name can be up to %d characters long. It can contain only letters, numbers, underscores, periods, and hyphens, and cannot end with a period. (%s)", name, max, kind), false
	}
	return "", "", true
}

// reserved reports whether Azure keeps a for itself: the first four
// addresses of every subnet (network, gateway, two for DNS) and the last
// (broadcast).
// https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq#are-there-any-restrictions-on-using-ip-addresses-within-these-subnets
func reserved(p netip.Prefix, a netip.Addr) bool {
	first := p.Masked().Addr()
	for range 4 {
		if a == first {
			return true
		}
		first = first.Next()
	}
	return a == last(p)
}

// last is the highest address of p.
func last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
