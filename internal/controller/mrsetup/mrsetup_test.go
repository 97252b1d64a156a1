package mrsetup

import (
	"testing"
	"time"

	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

func TestSettlingPoll(t *testing.T) {
	poll := 15 * time.Second
	cases := []struct {
		reason string
		age    time.Duration
		ready  bool
		want   time.Duration
	}{
		{"A new resource coming up is observed every second.", 5 * time.Second, false, time.Second},
		{"Then every tenth of its age.", 60 * time.Second, false, 6 * time.Second},
		{"A Ready resource is observed at the poll interval.", time.Minute, true, poll},
		{"A resource still not Ready long after its creation: the poll interval.", 10 * time.Minute, false, poll},
	}
	for _, tc := range cases {
		u := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(time.Now().Add(-tc.age))}}
		if tc.ready {
			u.SetConditions(xpv2.Available())
		} else {
			u.SetConditions(xpv2.Creating())
		}
		if got := SettlingPoll(u, poll).Round(100 * time.Millisecond); got != tc.want {
			t.Errorf("%s\nSettlingPoll: want %v, got %v", tc.reason, tc.want, got)
		}
	}
	if got := SettlingPoll(&dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()}}, 500*time.Millisecond); got != 500*time.Millisecond {
		t.Errorf("a poll interval below a second is kept, got %v", got)
	}
}
