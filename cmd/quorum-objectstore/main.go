// Command quorum-objectstore serves the local platform's S3-compatible
// object store (internal/objectstore) over HTTPS: the repository every
// database node archives WAL and writes backups to, outside every VM, so
// backups outlive the clusters they came from. It listens on the local
// datacenter's gateway address, which every guest reaches, with a
// certificate from the platform's CA; its access keys are read from a file
// readable only by its owner.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/quorumdb/quorum/internal/objectstore"
)

type cli struct {
	Listen  string   `required:"" help:"Address to serve HTTPS on (host:port)."`
	TLSCert string   `required:"" help:"Server certificate (PEM)."`
	TLSKey  string   `required:"" help:"Its private key (PEM)."`
	DB      string   `required:"" help:"bbolt file holding the objects (created when missing)."`
	Keys    string   `required:"" help:"JSON file with the access keys ([{id, secret, prefixes}])."`
	Bucket  []string `help:"Buckets to create when missing."`
	// Keys derived from it reach one prefix each (scopedkey): the provider
	// gives each database node its repository's own.
	ScopeRootFile string `help:"File holding the root secret scoped keys are derived from (optional)."`
}

func (c *cli) Run() error {
	b, err := os.ReadFile(c.Keys)
	if err != nil {
		return err
	}
	var keys []objectstore.Key
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("cannot read the access keys in %s: %w", c.Keys, err)
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return err
	}
	s, err := objectstore.Open(c.DB, keys)
	if err != nil {
		return err
	}
	defer s.Close() //nolint:errcheck // Closed on the way out.
	if c.ScopeRootFile != "" {
		root, err := os.ReadFile(c.ScopeRootFile)
		if err != nil {
			return err
		}
		s.AdmitScopedKeys(strings.TrimSpace(string(root)))
	}
	for _, bk := range c.Bucket {
		if err := s.CreateBucket(bk); err != nil {
			return fmt.Errorf("cannot create bucket %s: %w", bk, err)
		}
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Printf("object store at https://%s (buckets %v, %d keys)\n", l.Addr(), c.Bucket, len(keys))
	if err := srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() {
	ctx := kong.Parse(&cli{}, kong.Description("The local platform's S3-compatible object store."))
	ctx.FatalIfErrorf(ctx.Run())
}
