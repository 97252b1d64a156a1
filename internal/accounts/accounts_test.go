package accounts

import (
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 200 {
		p, err := Password(32)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 32 || seen[p] {
			t.Fatalf("password %d long or repeated", len(p))
		}
		seen[p] = true
		for _, c := range p {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", c) {
				t.Fatalf("character %q outside the alphabet", c)
			}
			counts[c]++
		}
	}
	// 6400 characters over 62 symbols: each about 103 times; a symbol never
	// drawn or drawn 3x too often means a broken generator.
	if len(counts) != 62 {
		t.Errorf("%d of 62 symbols used", len(counts))
	}
	for c, n := range counts {
		if n > 300 {
			t.Errorf("symbol %q drawn %d times", c, n)
		}
	}
}

func TestCheckGrants(t *testing.T) {
	for _, tc := range []struct {
		name string
		gs   []Grant
		want string
	}{
		{"valid", []Grant{{"a", Owner}, {"b", ReadWrite}, {"c", ReadOnly}}, ""},
		{"unknown privilege", []Grant{{"a", "superuser"}}, `spec.forProvider.grants[0].privilege "superuser": unknown privilege (use owner, readwrite or readonly)`},
		{"twice", []Grant{{"a", Owner}, {"a", ReadOnly}}, `spec.forProvider.grants[1]: database "a" is granted twice; keep one privilege per database`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckGrants(tc.gs)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
