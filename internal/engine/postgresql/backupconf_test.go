package postgresql

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quorumdb/quorum/internal/engine/node"
)

// TestRepositoryConfig pins the repository lines of pgbackrest.conf and the
// files they name: the two sides of the boundary with the object store
// (internal/objectstore runs pgBackRest against it for real with these
// options).
func TestRepositoryConfig(t *testing.T) {
	creds := map[string]string{"accessKeyID": "AK", "secretAccessKey": "SK", "ca.crt": "CA"}
	cases := map[string]struct {
		repo      node.BackupRepo
		wantLines []string
		wantFiles []string
	}{
		"PrivateS3": {
			repo: node.BackupRepo{Type: "s3", Bucket: "b", Endpoint: "10.77.0.1:9000", Region: "us-east-1", Path: "/xdatabase/ns/db", Credentials: creds, RetentionFull: 7, RetentionDays: 14},
			wantLines: []string{"repo1-type=s3", "repo1-s3-bucket=b", "repo1-s3-endpoint=10.77.0.1", "repo1-s3-region=us-east-1", "repo1-s3-key=AK", "repo1-s3-key-secret=SK",
				"repo1-s3-uri-style=path", "repo1-storage-port=9000", "repo1-storage-ca-file=/q/n/s3-ca.crt", "repo1-path=/xdatabase/ns/db", "repo1-retention-full-type=time", "repo1-retention-full=14"},
			wantFiles: []string{"/q/n/s3-ca.crt"},
		},
		"AmazonS3": {
			repo:      node.BackupRepo{Type: "s3", Bucket: "b", Region: "eu-west-1", Path: "/p", Credentials: map[string]string{"accessKeyID": "AK", "secretAccessKey": "SK"}, RetentionFull: 7},
			wantLines: []string{"repo1-type=s3", "repo1-s3-bucket=b", "repo1-s3-endpoint=s3.eu-west-1.amazonaws.com", "repo1-s3-region=eu-west-1", "repo1-s3-key=AK", "repo1-s3-key-secret=SK", "repo1-path=/p", "repo1-retention-full=7"},
		},
		"GCS": {
			repo:      node.BackupRepo{Type: "gcs", Bucket: "b", Path: "/p", Credentials: map[string]string{"key.json": "{}"}},
			wantLines: []string{"repo1-type=gcs", "repo1-gcs-bucket=b", "repo1-gcs-key=/q/n/gcs-key.json", "repo1-path=/p"},
			wantFiles: []string{"/q/n/gcs-key.json"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n := Node{Cluster: "db", BaseDir: "/q/n", Port: 5432, AdminUser: "postgres", Backup: &tc.repo}
			var got []string
			for _, l := range strings.Split(string(n.PgBackRestConfig()), "\n") {
				if strings.HasPrefix(l, "repo1-") {
					got = append(got, l)
				}
			}
			if diff := cmp.Diff(tc.wantLines, got); diff != "" {
				t.Errorf("repository lines (-want, +got):\n%s", diff)
			}
			var files []string
			for p := range n.repoFiles(n.Backup, "") {
				files = append(files, p)
			}
			if diff := cmp.Diff(tc.wantFiles, files); diff != "" {
				t.Errorf("files (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestRestorableFrom(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	now := at("2026-12-03T12:00:00Z")
	sets := RepoInfo{Status: "ok", Sets: []BackupSet{
		{Label: "20261203-100000F", Finished: at("2026-12-03T10:01:00Z")},
		{Label: "20261203-110000F_20261203-110500D", Finished: at("2026-12-03T11:06:00Z")},
		{Label: "20261203-113000F", Error: true, Finished: at("2026-12-03T11:31:00Z")},
	}}
	cases := map[string]struct {
		info RepoInfo
		r    node.Restore
		want string
	}{
		"Latest":        {info: sets, r: node.Restore{Cluster: "orders"}},
		"NamedSet":      {info: sets, r: node.Restore{Cluster: "orders", Backup: "20261203-100000F"}},
		"PointInTime":   {info: sets, r: node.Restore{Cluster: "orders", Target: at("2026-12-03T10:30:00Z")}},
		"NeverBackedUp": {info: RepoInfo{Status: "error (missing stanza path)"}, r: node.Restore{Cluster: "ghost"}, want: "spec.forProvider.restoreFrom.cluster: ghost has no finished backup in its repository (error (missing stanza path)): back it up first, or restore from another database"},
		"OnlyFailed":    {info: RepoInfo{Sets: sets.Sets[2:]}, r: node.Restore{Cluster: "orders"}, want: "spec.forProvider.restoreFrom.cluster: orders has no finished backup in its repository (empty): back it up first, or restore from another database"},
		"UnknownSet":    {info: sets, r: node.Restore{Cluster: "orders", Backup: "20261203-113000F"}, want: "spec.forProvider.restoreFrom.backup: 20261203-113000F is not a finished backup of orders: use one of 20261203-100000F, 20261203-110000F_20261203-110500D"},
		"Future":        {info: sets, r: node.Restore{Cluster: "orders", Target: at("2026-12-04T00:00:00Z")}, want: "spec.forProvider.restoreFrom.pointInTime: 2026-12-04T00:00:00Z is in the future: give a time that has passed"},
		"BeforeFirst":   {info: sets, r: node.Restore{Cluster: "orders", Target: at("2026-12-03T09:00:00Z")}, want: "spec.forProvider.restoreFrom.pointInTime: 2026-12-03T09:00:00Z is before the first backup of orders ended (2026-12-03T10:01:00Z): give a later time"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := ""
			if err := RestorableFrom(tc.info, tc.r, now); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("RestorableFrom (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestChooseIncarnation(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	infos := map[string]RepoInfo{
		"/x/ns/orders/old": {Sets: []BackupSet{{Label: "20261201-100000F", Finished: at("2026-12-01T10:01:00Z")}, {Label: "20261201-180000F", Finished: at("2026-12-01T18:01:00Z")}}},
		"/x/ns/orders/new": {Sets: []BackupSet{{Label: "20261202-090000F", Finished: at("2026-12-02T09:01:00Z")}, {Label: "20261203-090000F", Error: true, Finished: at("2026-12-03T09:01:00Z")}}},
		"/x/ns/orders/bad": {Status: "error (missing stanza path)"},
	}
	cases := map[string]struct {
		r    node.Restore
		want string
	}{
		"Newest":           {r: node.Restore{}, want: "/x/ns/orders/new"},
		"NamedOldSet":      {r: node.Restore{Backup: "20261201-100000F"}, want: "/x/ns/orders/old"},
		"NamedFailedSet":   {r: node.Restore{Backup: "20261203-090000F"}, want: ""},
		"TimeInOldLife":    {r: node.Restore{Target: at("2026-12-01T20:00:00Z")}, want: "/x/ns/orders/old"},
		"TimeInNewLife":    {r: node.Restore{Target: at("2026-12-02T12:00:00Z")}, want: "/x/ns/orders/new"},
		"TimeBeforeAnySet": {r: node.Restore{Target: at("2026-11-30T00:00:00Z")}, want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ChooseIncarnation(infos, tc.r)); diff != "" {
				t.Errorf("ChooseIncarnation (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestIncarnations(t *testing.T) {
	cases := map[string]struct {
		listing string
		want    []string
	}{
		"Incarnations": {listing: `{".":{"type":"path"},"8d1f":{"type":"path"},"1a2b":{"type":"path"}}`, want: []string{"/x/ns/db/1a2b", "/x/ns/db/8d1f"}},
		"Legacy":       {listing: `{".":{"type":"path"},"archive":{"type":"path"},"backup":{"type":"path"}}`, want: []string{"/x/ns/db"}},
		"Both":         {listing: `{"archive":{"type":"path"},"backup":{"type":"path"},"8d1f":{"type":"path"},"stray.txt":{"type":"file"}}`, want: []string{"/x/ns/db", "/x/ns/db/8d1f"}},
		"Empty":        {listing: `{}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Incarnations("/x/ns/db", []byte(tc.listing))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Incarnations (-want, +got):\n%s", diff)
			}
		})
	}
}
