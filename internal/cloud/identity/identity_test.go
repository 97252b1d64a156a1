package identity

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzNameInjective: Parse undoes Name for every pair, so no two distinct
// pairs share a name (a left inverse exists only for injective maps).
func FuzzNameInjective(f *testing.F) {
	for _, s := range [][2]string{{"team-a", "orders-0"}, {"team", "a-orders-0"}, {"a", "b"}, {"1", "1-1"}, {"q1-a", "b"}, {strings.Repeat("n", 63), "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ns, name string) {
		if ns == "" || name == "" {
			return
		}
		gotNS, gotName, ok := Parse(Name(ns, name))
		if !ok || gotNS != ns || gotName != name {
			t.Fatalf("Parse(Name(%q, %q)) = %q, %q, %v", ns, name, gotNS, gotName, ok)
		}
	})
}

// TestNamesDistinct maps a corpus built to collide under "<ns>-<name>"
// (every split of the same hyphenated string) and random pairs: no two
// distinct pairs share a name.
func TestNamesDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab-1"
	word := func() string {
		b := make([]byte, 1+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return strings.Trim(string(b), "-") + "x"
	}
	seen := map[string][2]string{}
	add := func(ns, name string) {
		n := Name(ns, name)
		if prev, ok := seen[n]; ok && prev != [2]string{ns, name} {
			t.Fatalf("%q/%q and %q/%q both map to %s", prev[0], prev[1], ns, name, n)
		}
		seen[n] = [2]string{ns, name}
	}
	for range 100000 {
		full := word() + "-" + word() + "-" + word()
		for i := range len(full) {
			if full[i] == '-' {
				add(full[:i], full[i+1:])
			}
		}
		add(word(), word())
	}
	if len(seen) < 100000 {
		t.Fatalf("corpus too small: %d names", len(seen))
	}
}

func TestFor(t *testing.T) {
	long := strings.Repeat("n", 50)
	cases := map[string]struct {
		platform, ns, name string
		want, err          string
	}{
		"Fits":          {platform: "gcp", ns: "team-a", name: "orders-0", want: "q6-team-a-orders-0"},
		"TooLongForGCP": {platform: "gcp", ns: long, name: "orders-0", err: "is 63 characters, over the 58 gcp allows: shorten the namespace or the name by 5 characters"},
		"FitsVSphere":   {platform: "vsphere", ns: long, name: "orders-0", want: "q50-" + long + "-orders-0"},
		"Dots":          {platform: "azure", ns: "team-a", name: "orders.0", err: `VirtualMachine name "orders.0" cannot name a VM`},
		"Upper":         {platform: "azure", ns: "Team", name: "orders-0", err: `namespace "Team" cannot name a VM`},
		"NoPlatform":    {platform: "aws", ns: "team-a", name: "orders-0", err: `platform "aws" has no VM naming rule`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := For(tc.platform, tc.ns, tc.name)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("For: want an error with %q, got %q, %v", tc.err, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("For = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestRead(t *testing.T) {
	mine := Owner("team-a", "orders-0")
	cases := map[string]struct {
		tags map[string]string
		want string
	}{
		"Mark":          {tags: map[string]string{OwnerKey: mine}, want: mine},
		"LegacyAzure":   {tags: map[string]string{"quorum.dev/owner": "team-a/orders-0"}, want: mine},
		"LegacyVSphere": {tags: map[string]string{"guestinfo.quorum.owner": "team-a/orders-0"}, want: mine},
		"MarkWins":      {tags: map[string]string{OwnerKey: "v1-other", "quorum.dev/owner": "team-a/orders-0"}, want: "v1-other"},
		"None":          {tags: map[string]string{"env": "prod"}, want: ""},
		"LegacyEmpty":   {tags: map[string]string{"quorum.dev/owner": ""}, want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Read(tc.tags)); diff != "" {
				t.Errorf("Read: -want, +got:\n%s", diff)
			}
		})
	}
	if Owner("team-a", "orders-0") == Owner("team", "a/orders-0") {
		t.Error("marks of distinct resources are equal")
	}
	if len(mine) > 63 {
		t.Errorf("mark %s is over GCP's 63-character label value", mine)
	}
}
