package apiclient

import (
	"context"
	"sync"
	"testing"
	"time"

	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	"github.com/google/go-cmp/cmp"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/quorumdb/quorum/apis"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
)

// lagging is an informer cache that answers the version before each write
// for the next few reads, as a real one does for a few milliseconds.
type lagging struct {
	client.Client
	mu     sync.Mutex
	before map[types.NamespacedName]*dbv1alpha1.User
	reads  int
	writes int
}

const lagReads = 3

func (l *lagging) Get(ctx context.Context, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	l.mu.Lock()
	old, ok := l.before[k]
	if ok && l.reads < lagReads {
		l.reads++
		l.mu.Unlock()
		if old == nil {
			return l.Client.Get(ctx, types.NamespacedName{Name: "never-there"}, obj)
		}
		old.DeepCopyInto(obj.(*dbv1alpha1.User))
		return nil
	}
	l.mu.Unlock()
	return l.Client.Get(ctx, k, obj, opts...)
}

// snapshot keeps what the cache answers until it catches up (nil: not yet
// there).
func (l *lagging) snapshot(ctx context.Context, k client.ObjectKey) {
	cur := &dbv1alpha1.User{}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.Client.Get(ctx, k, cur); err != nil {
		cur = nil
	}
	l.before[k], l.reads = cur, 0
}

func newLagging(t *testing.T) *lagging {
	s := runtime.NewScheme()
	if err := apis.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	l := &lagging{before: map[types.NamespacedName]*dbv1alpha1.User{}}
	l.Client = fake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&dbv1alpha1.User{}).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			l.snapshot(ctx, client.ObjectKeyFromObject(o))
			l.writes++
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			l.snapshot(ctx, client.ObjectKeyFromObject(o))
			l.writes++
			return c.Update(ctx, o, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			l.snapshot(ctx, client.ObjectKeyFromObject(o))
			l.writes++
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
	}).Build()
	return l
}

func TestReadsItsOwnWrites(t *testing.T) {
	ctx := context.Background()
	l := newLagging(t)
	c := New(l)
	u := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app"}}
	if err := c.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	got := &dbv1alpha1.User{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatalf("Get of a just-created object the cache lacks: %v", err)
	}
	u.Annotations = map[string]string{"crossplane.io/external-create-pending": "now"}
	if err := c.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u.ResourceVersion+" "+u.Annotations["crossplane.io/external-create-pending"], got.ResourceVersion+" "+got.Annotations["crossplane.io/external-create-pending"]); diff != "" {
		t.Errorf("Get after Update: -written, +read:\n%s", diff)
	}

	// Without the wrapper the same read is stale: what the wait is for.
	u.Annotations["x"] = "y"
	if err := c.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	stale := &dbv1alpha1.User{}
	if err := l.Get(ctx, client.ObjectKeyFromObject(u), stale); err != nil || stale.ResourceVersion == u.ResourceVersion {
		t.Errorf("the lagging cache should answer the old version, got %q (err %v)", stale.ResourceVersion, err)
	}
}

func TestSkipsUnchangedStatus(t *testing.T) {
	ctx := context.Background()
	l := newLagging(t)
	c := New(l)
	u := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app"}}
	if err := c.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.SetConditions(xpv2.Available())
	if err := c.Status().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	before := l.writes
	// The next reconcile reads it back and writes the same status.
	again := &dbv1alpha1.User{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), again); err != nil {
		t.Fatal(err)
	}
	again.SetConditions(xpv2.Available())
	if err := c.Status().Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	if l.writes != before {
		t.Errorf("an unchanged status was written (%d writes, want %d)", l.writes, before)
	}
	// A changed one is written.
	again.SetConditions(xpv2.ReconcileError(context.DeadlineExceeded))
	if err := c.Status().Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	if l.writes != before+1 {
		t.Errorf("a changed status was not written (%d writes, want %d)", l.writes, before+1)
	}
	// An object at an older version than the cache's is always sent, even
	// with the cache's status, so the API server answers 409 and the
	// reconciler reads again.
	stale := u.DeepCopy()
	stale.Status = again.Status
	_ = c.Status().Update(ctx, stale)
	if l.writes != before+2 {
		t.Errorf("a status write from a stale version was skipped (%d writes, want %d)", l.writes, before+2)
	}
}

// TestDeletedNotWaitedFor: once the last finalizer of a deleted object is
// removed the object is gone; reading it answers NotFound at once.
func TestDeletedNotWaitedFor(t *testing.T) {
	ctx := context.Background()
	l := newLagging(t)
	c := New(l)
	u := &dbv1alpha1.User{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app", Finalizers: []string{"f"}}}
	if err := c.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	settle := func() {
		for range lagReads {
			_ = l.Get(ctx, client.ObjectKeyFromObject(u), &dbv1alpha1.User{})
		}
	}
	settle()
	if err := c.Delete(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
		t.Fatal(err)
	}
	u.Finalizers = nil
	if err := c.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	settle() // The cache catches up with the deletion.
	start := time.Now()
	err := c.Get(ctx, client.ObjectKeyFromObject(u), &dbv1alpha1.User{})
	if !kerrors.IsNotFound(err) {
		t.Fatalf("Get of the deleted object: want NotFound, got %v", err)
	}
	if d := time.Since(start); d > MaxWait/2 {
		t.Errorf("Get of a deleted object waited %v for a version that will never come", d)
	}
}
