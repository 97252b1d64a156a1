// Command function serves the XDatabase composition function over mTLS gRPC.
package main

import (
	"github.com/alecthomas/kong"
	function "github.com/crossplane/function-sdk-go"

	"github.com/quorumdb/quorum/functions/xdatabase"
)

type cli struct {
	Debug          bool   `short:"d" help:"Emit debug logs in addition to info logs."`
	Network        string `default:"tcp" help:"Network on which to listen for gRPC connections."`
	Address        string `default:":9443" help:"Address at which to listen for gRPC connections."`
	TLSCertsDir    string `env:"TLS_SERVER_CERTS_DIR" help:"Directory holding tls.crt, tls.key and ca.crt for mTLS."`
	Insecure       bool   `help:"Serve without mTLS (tests and crossplane render only)."`
	MetricsAddress string `default:"127.0.0.1:0" help:"Address of the Prometheus metrics endpoint; empty disables it. The SDK's default (:8080 on every interface) collides on shared hosts."`
}

func (c *cli) Run() error {
	log, err := function.NewLogger(c.Debug)
	if err != nil {
		return err
	}
	return function.Serve(&xdatabase.Function{Log: log},
		function.Listen(c.Network, c.Address),
		function.MTLSCertificates(c.TLSCertsDir),
		function.Insecure(c.Insecure),
		function.WithMetricsServer(c.MetricsAddress))
}

func main() {
	ctx := kong.Parse(&cli{}, kong.Description("The Quorum XDatabase composition function."))
	ctx.FatalIfErrorf(ctx.Run())
}
