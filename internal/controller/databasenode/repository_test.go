package databasenode

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/objectstore/scopedkey"
)

func TestCredentialsNamespace(t *testing.T) {
	repo := func(typ, p, ns string) *dbv1alpha1.BackupRepository {
		return &dbv1alpha1.BackupRepository{Type: typ, Path: p, CredentialsSecretRef: &dbv1alpha1.RepositoryCredentialsReference{Name: "creds", Namespace: ns}}
	}
	cases := map[string]struct {
		reason  string
		repo    *dbv1alpha1.BackupRepository
		want    string
		wantErr bool
	}{
		"Own":          {reason: "a Secret in the resource's namespace", repo: repo("s3", "/x/team-a/orders", ""), want: "team-a"},
		"OwnNamed":     {reason: "the resource's namespace named", repo: repo("s3", "/x/team-a/orders", "team-a"), want: "team-a"},
		"Platform":     {reason: "the platform's credentials for this namespace's prefix", repo: repo("s3", "/xdatabase/team-a/orders", "crossplane-system"), want: "crossplane-system"},
		"Incarnation":  {reason: "one incarnation below the cluster's prefix", repo: repo("s3", "/xdatabase/team-a/orders/8d1f3c2a", "crossplane-system"), want: "crossplane-system"},
		"TwoBelow":     {reason: "deeper than one incarnation", repo: repo("s3", "/xdatabase/team-a/orders/x/y", "crossplane-system"), wantErr: true},
		"OtherCluster": {reason: "another cluster's prefix in the same namespace", repo: repo("s3", "/xdatabase/team-a/billing", "crossplane-system"), wantErr: true},
		"Relative":     {reason: "the prefix read the same without a leading slash", repo: repo("s3", "xdatabase/team-a/orders", "crossplane-system"), want: "crossplane-system"},
		"OtherPrefix":  {reason: "the platform's credentials pointed at another tenant's backups", repo: repo("s3", "/xdatabase/team-b/orders", "crossplane-system"), wantErr: true},
		"Traversal":    {reason: "a path that climbs out of its prefix", repo: repo("s3", "/xdatabase/team-b/orders/../../team-a/x/..", "crossplane-system"), wantErr: true},
		"Unclean":      {reason: "a path whose segments are not literal", repo: repo("s3", "/xdatabase/team-b/../team-a/orders", "crossplane-system"), wantErr: true},
		"Filesystem":   {reason: "the platform's credentials for a node-local repository", repo: repo("filesystem", "/xdatabase/team-a/orders", "crossplane-system"), wantErr: true},
		"Foreign":      {reason: "another tenant's Secret", repo: repo("s3", "/x/team-a/orders", "team-b"), wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := credentialsNamespace("team-a", "orders", tc.repo, "spec.forProvider.backup")
			if (err != nil) != tc.wantErr {
				t.Fatalf("%s: error %v, want error %v", tc.reason, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want, +got):\n%s", tc.reason, diff)
			}
		})
	}
}

// TestScopeCredentials: a node gets its repository's own key, derived from
// the store's root secret, and never the root.
func TestScopeCredentials(t *testing.T) {
	r := &node.BackupRepo{Type: "s3", Bucket: "backups", Path: "/xdatabase/team-a/orders/uid-1", Credentials: map[string]string{scopedkey.SecretKey: "root", "ca.crt": "CA"}}
	scopeCredentials(r)
	id, secret := scopedkey.Derive("root", "backups", "/xdatabase/team-a/orders/uid-1")
	want := map[string]string{"accessKeyID": id, "secretAccessKey": secret, "ca.crt": "CA"}
	if diff := cmp.Diff(want, r.Credentials); diff != "" {
		t.Errorf("credentials (-want, +got):\n%s", diff)
	}
	if scope, err := scopedkey.Scope(id); err != nil || scope != "backups/xdatabase/team-a/orders/uid-1/" {
		t.Errorf("the key reaches %q (%v), want the repository only", scope, err)
	}
	plain := &node.BackupRepo{Type: "s3", Credentials: map[string]string{"accessKeyID": "AK", "secretAccessKey": "SK"}}
	scopeCredentials(plain)
	if diff := cmp.Diff(map[string]string{"accessKeyID": "AK", "secretAccessKey": "SK"}, plain.Credentials); diff != "" {
		t.Errorf("an access key is kept as given (-want, +got):\n%s", diff)
	}
}
