// Command quorum-vcsim runs govmomi's vCenter simulator as the local
// platform's vCenter: one datacenter DC0 with a cluster DC0_C0, a datastore
// LocalDS_0, and a template VM named after the function input's default
// ("debian-12"). It writes how to reach it (URL, certificate thumbprint and
// generated credentials) to a file readable only by its owner.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
)

type cli struct {
	Listen   string `default:"127.0.0.1:0" help:"Address to serve the vSphere API on."`
	Template string `default:"debian-12" help:"Name given to the template VM database VMs are cloned from."`
	Out      string `required:"" help:"File to write the endpoint, thumbprint and credentials to (JSON)."`
}

// Endpoint is what the simulator writes to --out.
type Endpoint struct {
	URL        string `json:"url"`
	Thumbprint string `json:"thumbprint"`
	Username   string `json:"username"`
	Password   string `json:"password"`
}

func (c *cli) Run() error {
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		return err
	}
	defer model.Remove()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	user, pass := "quorum@vsphere.local", hex.EncodeToString(b)
	model.Service.TLS = new(tls.Config)
	model.Service.Listen = &url.URL{Host: c.Listen, User: url.UserPassword(user, pass)}
	s := model.Service.NewServer()
	defer s.Close()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := rename(ctx, s.URL, "DC0_C0_RP0_VM0", c.Template); err != nil {
		return err
	}
	u := *s.URL
	u.User = nil
	ep := Endpoint{URL: u.String(), Thumbprint: soap.ThumbprintSHA1(s.Certificate()), Username: user, Password: pass}
	j, _ := json.MarshalIndent(ep, "", "  ")
	if err := os.WriteFile(c.Out, j, 0o600); err != nil {
		return err
	}
	fmt.Printf("vCenter simulator at %s (thumbprint %s)\n", ep.URL, ep.Thumbprint)
	<-ctx.Done()
	return nil
}

// rename makes one of the simulator's VMs the template database VMs clone.
func rename(ctx context.Context, u *url.URL, from, to string) error {
	sc := soap.NewClient(u, true)
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return err
	}
	if err := simulatorLogin(ctx, vc, u); err != nil {
		return err
	}
	f := find.NewFinder(vc, true)
	dc, err := f.Datacenter(ctx, "DC0")
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	vm, err := f.VirtualMachine(ctx, from)
	if err != nil {
		return err
	}
	t, err := vm.Rename(ctx, to)
	if err != nil {
		return err
	}
	return t.Wait(ctx)
}

func main() {
	ctx := kong.Parse(&cli{}, kong.Description("The local platform's vCenter simulator."))
	ctx.FatalIfErrorf(ctx.Run())
}
