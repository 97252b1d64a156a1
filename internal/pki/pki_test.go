package pki

import (
	"testing"
	"time"
)

func TestIssueAndValidate(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	ca, err := NewCA("orders", now)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewCA("other", now)
	srv, err := IssueServer(ca, "orders-0", []string{"10.0.0.10", "orders-0"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ca    []byte
		hosts []string
		at    time.Time
		want  bool
	}{
		{"valid", ca.Cert, []string{"10.0.0.10", "orders-0"}, now, true},
		{"other CA", other.Cert, []string{"10.0.0.10"}, now, false},
		{"address not covered", ca.Cert, []string{"10.0.0.11"}, now, false},
		{"name not covered", ca.Cert, []string{"orders-1"}, now, false},
		{"due for renewal", ca.Cert, []string{"10.0.0.10"}, now.Add(340 * 24 * time.Hour), false},
		{"still fresh", ca.Cert, []string{"10.0.0.10"}, now.Add(300 * 24 * time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Valid(srv, tc.ca, tc.hosts, tc.at); got != tc.want {
				t.Errorf("Valid = %v, want %v", got, tc.want)
			}
		})
	}
	if Valid(Pair{Cert: []byte("junk")}, ca.Cert, nil, now) {
		t.Error("junk accepted")
	}
}
