package databasenode

import (
	"testing"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

func TestRestartPending(t *testing.T) {
	cases := []struct {
		reason string
		want   string
		last   *dbv1alpha1.RestartStatus
		result bool
	}{
		{"No request: nothing to do.", "", &dbv1alpha1.RestartStatus{Request: "a", Result: "succeeded"}, false},
		{"Not yet run healthy: its first start counts.", "a", nil, false},
		{"A new request is carried out.", "b", &dbv1alpha1.RestartStatus{Request: "a", Result: "succeeded"}, true},
		{"A request carried out is not repeated.", "b", &dbv1alpha1.RestartStatus{Request: "b", Result: "succeeded"}, false},
		{"The first start took the request in.", "b", &dbv1alpha1.RestartStatus{Request: "b", Result: "started fresh"}, false},
		{"A failed restart is retried.", "b", &dbv1alpha1.RestartStatus{Request: "b", Result: "failed: timeout"}, true},
	}
	for _, tc := range cases {
		dn := &dbv1alpha1.DatabaseNode{}
		dn.Spec.ForProvider.RestartRequest = tc.want
		dn.Status.AtProvider.LastRestart = tc.last
		if got := restartPending(dn); got != tc.result {
			t.Errorf("%s\nrestartPending: want %v, got %v", tc.reason, tc.result, got)
		}
	}
}
