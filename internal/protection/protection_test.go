package protection

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var errTimeout = errors.New("context deadline exceeded")

func TestProtected(t *testing.T) {
	yes := true
	owner := metav1.OwnerReference{APIVersion: "platform.quorum.dev/v1alpha1", Kind: "XDatabase", Name: "orders", UID: "xr-1", Controller: &yes}
	node := func(labelled bool) *metav1.ObjectMeta {
		m := &metav1.ObjectMeta{Namespace: "team-a", Name: "orders-0", OwnerReferences: []metav1.OwnerReference{owner}}
		if labelled {
			m.Labels = map[string]string{Label: "true"}
		}
		return m
	}
	xr := func(protected, deleting bool, uid string) client.Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("platform.quorum.dev/v1alpha1")
		u.SetKind("XDatabase")
		u.SetNamespace("team-a")
		u.SetName("orders")
		u.SetUID(types.UID(uid))
		_ = unstructured.SetNestedField(u.Object, protected, "spec", "deletionProtection")
		if deleting {
			now := metav1.Now()
			u.SetDeletionTimestamp(&now)
			u.SetFinalizers([]string{"composite.apiextensions.crossplane.io"})
		}
		return u
	}
	broken := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return errTimeout
	}}).Build()
	cases := map[string]struct {
		labelled bool
		api      client.Reader
		want     bool
		wantErr  string
	}{
		"NoLabelNoRead":       {labelled: false, api: broken, want: false},
		"Protected":           {labelled: true, api: fake.NewClientBuilder().WithObjects(xr(true, false, "xr-1")).Build(), want: true},
		"Lifted":              {labelled: true, api: fake.NewClientBuilder().WithObjects(xr(false, false, "xr-1")).Build(), want: false},
		"XRBeingDeleted":      {labelled: true, api: fake.NewClientBuilder().WithObjects(xr(true, true, "xr-1")).Build(), want: false},
		"XRGone":              {labelled: true, api: fake.NewClientBuilder().Build(), want: false},
		"AnotherXRSameName":   {labelled: true, api: fake.NewClientBuilder().WithObjects(xr(true, false, "xr-2")).Build(), want: false},
		"CannotTellIsProtect": {labelled: true, api: broken, want: true, wantErr: "cannot read XDatabase orders"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := node(tc.labelled)
			_, got, err := Protected(context.Background(), tc.api, m)
			if got != tc.want {
				t.Errorf("protected: want %v, got %v (%v)", tc.want, got, err)
			}
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error: want %q, got %v", tc.wantErr, err)
			}
		})
	}
}
