package postgresql

import (
	"strings"
	"testing"

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
			repo: node.BackupRepo{Type: "s3", Bucket: "b", Endpoint: "10.77.0.1:9000", Region: "us-east-1", Path: "/xdatabase/ns/db", Credentials: creds},
			wantLines: []string{"repo1-type=s3", "repo1-s3-bucket=b", "repo1-s3-endpoint=10.77.0.1", "repo1-s3-region=us-east-1", "repo1-s3-key=AK", "repo1-s3-key-secret=SK",
				"repo1-s3-uri-style=path", "repo1-storage-port=9000", "repo1-storage-ca-file=/q/n/s3-ca.crt", "repo1-path=/xdatabase/ns/db"},
			wantFiles: []string{"/q/n/s3-ca.crt"},
		},
		"AmazonS3": {
			repo:      node.BackupRepo{Type: "s3", Bucket: "b", Region: "eu-west-1", Path: "/p", Credentials: map[string]string{"accessKeyID": "AK", "secretAccessKey": "SK"}},
			wantLines: []string{"repo1-type=s3", "repo1-s3-bucket=b", "repo1-s3-endpoint=s3.eu-west-1.amazonaws.com", "repo1-s3-region=eu-west-1", "repo1-s3-key=AK", "repo1-s3-key-secret=SK", "repo1-path=/p"},
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
				if strings.HasPrefix(l, "repo1-") && !strings.HasPrefix(l, "repo1-retention") {
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
