package backup

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	"github.com/quorumdb/quorum/internal/engine/host/hosttest"
	"github.com/quorumdb/quorum/internal/engine/node"
	"github.com/quorumdb/quorum/internal/engine/postgresql"
)

// info renders `pgbackrest info --output=json` for stanza "pg".
func info(running bool, sets ...string) string {
	var bs []string
	for i, a := range sets {
		bs = append(bs, fmt.Sprintf(`{"label":"2026112%d-020000F","type":"full","error":false,"timestamp":{"start":%d,"stop":%d},"info":{"size":100},"archive":{"start":"A","stop":"B"},"lsn":{"start":"0/1","stop":"0/2"},"annotation":{"quorum-backup":%q}}`, i, 1795300000+i*100, 1795300010+i*100, a))
	}
	return fmt.Sprintf(`[{"name":"pg","status":{"code":0,"message":"ok","lock":{"backup":{"held":%v}}},"backup":[%s]}]`, running, strings.Join(bs, ","))
}

func TestObserveSchedule(t *testing.T) {
	// 2026-11-22 02:00 UTC is a tick of "0 2 * * *".
	tick := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		info   string
		now    time.Time
		want   managed.ExternalObservation
		ready  string
		create bool
	}{
		{"nothing yet: create the first full backup", info(false), tick, managed.ExternalObservation{ResourceExists: false}, "", true},
		{"first backup running", info(true), tick, managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: true}, "Creating", false},
		{"taken at the tick, next tick not reached", info(false, fmt.Sprintf("uid-1/%d", tick.Unix())), tick.Add(23 * time.Hour), managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: true}, "Available", false},
		{"next tick passed: due", info(false, fmt.Sprintf("uid-1/%d", tick.Unix())), tick.Add(24*time.Hour + time.Minute), managed.ExternalObservation{ResourceExists: true, ResourceUpToDate: false}, "Available", false},
		{"another resource's sets are not ours", info(false, "uid-2/1"), tick, managed.ExternalObservation{ResourceExists: false}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := hosttest.New()
			h.Stdout["backup info"] = tc.info
			e := &external{host: h, backuper: pgBackuper(t), now: func() time.Time { return tc.now }}
			b := &dbv1alpha1.Backup{ObjectMeta: metav1.ObjectMeta{UID: "uid-1"}, Spec: dbv1alpha1.BackupSpec{ForProvider: dbv1alpha1.BackupParameters{
				Engine: dbv1alpha1.PostgreSQL, Cluster: "pg", Type: "incr", Schedule: "0 2 * * *"}}}
			got, err := e.Observe(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if r := b.GetCondition(xpv2.TypeReady); string(r.Reason) != tc.ready {
				t.Errorf("Ready reason %q, want %q", r.Reason, tc.ready)
			}
			if !got.ResourceExists && tc.create {
				if _, err := e.Create(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				cmd := h.Commands["start full backup"]
				if !strings.Contains(cmd, "--type=full --annotation=quorum-backup='uid-1/") || !strings.Contains(cmd, "nohup setpriv --reuid=postgres") {
					t.Errorf("start: %s", cmd)
				}
			}
			if got.ResourceExists && !got.ResourceUpToDate {
				if _, err := e.Update(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(h.Commands["start incr backup"], "--type=incr") {
					t.Errorf("a due schedule with a full backup to build on starts its type: %v", h.Log)
				}
			}
		})
	}
}

func TestObserveOnDemand(t *testing.T) {
	h := hosttest.New()
	h.Stdout["backup info"] = info(false, "uid-1")
	e := &external{host: h, backuper: pgBackuper(t), now: time.Now}
	b := &dbv1alpha1.Backup{ObjectMeta: metav1.ObjectMeta{UID: "uid-1"}, Spec: dbv1alpha1.BackupSpec{ForProvider: dbv1alpha1.BackupParameters{Engine: dbv1alpha1.PostgreSQL, Cluster: "pg", Type: "full"}}}
	got, err := e.Observe(context.Background(), b)
	if err != nil || !got.ResourceExists {
		t.Fatalf("%+v %v", got, err)
	}
	ap := b.Status.AtProvider
	if ap.Label != "20261120-020000F" || ap.LSNStart != "0/1" || ap.WALStop != "B" || ap.SizeBytes != 100 {
		t.Errorf("status: %+v", ap)
	}
	if _, err := e.Create(context.Background(), &dbv1alpha1.Backup{Spec: dbv1alpha1.BackupSpec{ForProvider: dbv1alpha1.BackupParameters{Schedule: "every day"}}}); err == nil || !strings.Contains(err.Error(), `spec.forProvider.schedule "every day" is not a cron expression`) {
		t.Errorf("bad schedule: %v", err)
	}
}

func pgBackuper(t *testing.T) node.Backuper {
	t.Helper()
	r, err := postgresql.NewRole(node.Spec{Cluster: "pg", Name: "pg-0", Version: "15", BaseDir: "/q/pg-0", Backup: &node.BackupRepo{Type: "filesystem", Path: "/repo"}})
	if err != nil {
		t.Fatal(err)
	}
	return r.(node.Backuper)
}
