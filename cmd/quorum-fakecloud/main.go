// Command quorum-fakecloud serves the local platform's Azure and Google
// Cloud: internal/cloud/azure/azurefake and internal/cloud/gcp/gcpfake, each
// on its own HTTPS port with a certificate from the platform's CA, so the
// provider reaches them exactly as it reaches the real clouds (Entra ID and
// ARM; OAuth and Compute Engine). Their credentials are generated here: a
// service principal's secret and a service account's RSA key. It writes the
// endpoints, credentials and an inventory token to a file readable only by
// its owner.
//
// Each server also answers GET /_fakecloud/vms (bearer: the inventory token)
// with its VMs, addresses and cloud-init user data: the guest agent makes a
// namespace host of each running one, as a cloud would boot it. The fake
// Azure's /_fakecloud/nics lists its network interfaces (tests check none
// is left behind).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/quorumdb/quorum/internal/cloud/azure/azurefake"
	"github.com/quorumdb/quorum/internal/cloud/fakeapi"
	"github.com/quorumdb/quorum/internal/cloud/gcp/gcpfake"
)

type cli struct {
	TLSCert     string            `required:"" help:"Server certificate (PEM), valid for 127.0.0.1."`
	TLSKey      string            `required:"" help:"Its private key (PEM)."`
	Out         string            `required:"" help:"File to write endpoints and credentials to (JSON)."`
	AzureSubnet map[string]string `help:"Azure subnets: resource ID=CIDR." mapsep:";"`
	GCPSubnet   map[string]string `name:"gcp-subnetwork" help:"GCP subnetworks: regions/R/subnetworks/N=CIDR." mapsep:";"`
	Project     string            `default:"quorum-local" help:"GCP project."`
	// A fixed subscription, so the Composition can name subnets in it.
	Subscription string `default:"00000000-0000-4000-8000-00000000a2a2" help:"Azure subscription ID."`
}

func prefixes(in map[string]string) (map[string]netip.Prefix, error) {
	out := map[string]netip.Prefix{}
	for k, v := range in {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("subnet %s: %w", k, err)
		}
		out[k] = p
	}
	return out, nil
}

// inventory serves /_fakecloud/{vms,nics} beside a fake cloud.
func inventory(token string, next http.Handler, lists map[string]func() any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		what, ok := strings.CutPrefix(r.URL.Path, "/_fakecloud/")
		list := lists[what]
		if !ok || list == nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list())
	})
}

func serve(ctx context.Context, cert tls.Certificate, h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	go func() { <-ctx.Done(); _ = s.Close() }()
	return "https://" + l.Addr().String(), nil
}

func (c *cli) Run() error {
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return err
	}
	azSubnets, err := prefixes(c.AzureSubnet)
	if err != nil {
		return err
	}
	gcpSubnets, err := prefixes(c.GCPSubnet)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ep := fakeapi.Endpoints{InventoryToken: fakeapi.Random(16)}

	ep.Azure = fakeapi.AzureEndpoint{TenantID: fakeapi.Random(8), ClientID: fakeapi.Random(8), ClientSecret: fakeapi.Random(20), SubscriptionID: c.Subscription}
	az := azurefake.New(ep.Azure.TenantID, ep.Azure.ClientID, ep.Azure.ClientSecret, c.Subscription, azSubnets)
	if ep.Azure.URL, err = serve(ctx, cert, inventory(ep.InventoryToken, az, map[string]func() any{"vms": func() any { return az.VMs() }, "nics": func() any { return az.NICs() }})); err != nil {
		return err
	}

	g, err := gcpfake.New(c.Project, "quorum-provider@"+c.Project+".iam.gserviceaccount.com", gcpSubnets)
	if err != nil {
		return err
	}
	if ep.GCP.URL, err = serve(ctx, cert, inventory(ep.InventoryToken, g, map[string]func() any{"vms": func() any { return g.VMs() }})); err != nil {
		return err
	}
	ep.GCP.Project = c.Project
	if ep.GCP.KeyFile, err = g.KeyFile(ep.GCP.URL); err != nil {
		return err
	}

	j, _ := json.MarshalIndent(ep, "", "  ")
	// Written whole then renamed: readers never see half a file.
	tmp := c.Out + ".tmp"
	if err := os.WriteFile(tmp, j, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.Out); err != nil {
		return err
	}
	fmt.Printf("fake Azure at %s (subnets %s), fake GCP at %s (subnetworks %s)\n", ep.Azure.URL, keys(azSubnets), ep.GCP.URL, keys(gcpSubnets))
	<-ctx.Done()
	return nil
}

func keys(m map[string]netip.Prefix) string {
	s := []string{}
	for k, v := range m {
		s = append(s, k+"="+v.String())
	}
	return strings.Join(s, ", ")
}

func main() {
	ctx := kong.Parse(&cli{}, kong.Description("The local platform's fake Azure and Google Cloud."))
	ctx.FatalIfErrorf(ctx.Run())
}
