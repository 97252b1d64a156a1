package main

import (
	"context"
	"net/url"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
)

func simulatorLogin(ctx context.Context, vc *vim25.Client, u *url.URL) error {
	return session.NewManager(vc).Login(ctx, u.User)
}
