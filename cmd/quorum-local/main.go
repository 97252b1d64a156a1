// Command quorum-local runs the local platform: a real Kubernetes control
// plane, Crossplane core, and the Quorum provider and function, all as local
// processes on this machine.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/quorumdb/quorum/cluster/local"
)

type globals struct {
	StateDir string `default:".platform" env:"QUORUM_STATE_DIR" help:"Directory holding everything the platform creates."`
	BinDir   string `default:"bin" env:"QUORUM_BIN_DIR" help:"Directory holding the binaries built by make tools build."`
	Repo     string `default:"." env:"QUORUM_REPO" help:"Root of the quorum repository (for package/ and compositions/)."`
}

func (g *globals) platform() (*local.Platform, error) {
	abs := func(p string) (string, error) { return filepath.Abs(p) }
	state, err := abs(g.StateDir)
	if err != nil {
		return nil, err
	}
	bin, err := abs(g.BinDir)
	if err != nil {
		return nil, err
	}
	repo, err := abs(g.Repo)
	if err != nil {
		return nil, err
	}
	return &local.Platform{StateDir: state, BinDir: bin, PackageDir: filepath.Join(repo, "package"), CompositionDir: filepath.Join(repo, "compositions"), Out: os.Stdout}, nil
}

type upCmd struct{}

func (upCmd) Run(g *globals) error {
	p, err := g.platform()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	s, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("%w\nthe half-started platform is still there for diagnosis; `make down` removes it", err)
	}
	fmt.Printf("\nkubeconfig: %s\n  export KUBECONFIG=%s\n  kubectl get providers,functions\n", s.Kubeconfig, s.Kubeconfig)
	return nil
}

type downCmd struct{}

func (downCmd) Run(g *globals) error {
	p, err := g.platform()
	if err != nil {
		return err
	}
	if err := p.Down(); err != nil {
		return err
	}
	fmt.Println("local platform stopped and removed")
	return nil
}

type statusCmd struct{}

func (statusCmd) Run(g *globals) error {
	p, err := g.platform()
	if err != nil {
		return err
	}
	up := 0
	for _, c := range p.Status() {
		state := "stopped"
		if c.Running {
			state = fmt.Sprintf("running (pid %d)", c.PID)
			up++
		}
		fmt.Printf("%-24s %-20s %s\n", c.Name, state, c.Log)
	}
	if s, err := p.ReadState(); err == nil {
		fmt.Printf("\napiserver:  %s\nkubeconfig: %s\nstarted in: %.1fs\n", s.APIServer, s.Kubeconfig, s.StartupSeconds)
	}
	if up != len(p.Status()) {
		return fmt.Errorf("%d of %d components running", up, len(p.Status()))
	}
	return nil
}

type xpkgCmd struct {
	Out string `default:"_output/xpkg" help:"Directory for the built packages."`
}

func (c xpkgCmd) Run(g *globals) error {
	p, err := g.platform()
	if err != nil {
		return err
	}
	// Build logs go next to the packages, not into a platform's state.
	p.StateDir, err = filepath.Abs(c.Out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(p.StateDir, "logs"), 0o755); err != nil {
		return err
	}
	pkgs, err := p.BuildPackages(p.StateDir)
	if err != nil {
		return err
	}
	for _, k := range pkgs {
		fmt.Printf("%s  %s\n", k.File, k.Ref())
	}
	return nil
}

type guestsCmd struct{}

func (guestsCmd) Run(g *globals) error {
	p, err := g.platform()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return p.RunGuests(ctx, os.Stdout)
}

type cli struct {
	globals
	Up     upCmd     `cmd:"" help:"Start the local platform (idempotent)."`
	Down   downCmd   `cmd:"" help:"Stop the local platform and remove everything it created."`
	Status statusCmd `cmd:"" help:"Show each component, its pid and its log."`
	Xpkg   xpkgCmd   `cmd:"" help:"Build the provider, function and configuration packages."`
	Guests guestsCmd `cmd:"" hidden:"" help:"Run the guest agent (started by up)."`
}

func main() {
	c := &cli{}
	ctx := kong.Parse(c, kong.Description("The Quorum local platform."))
	ctx.FatalIfErrorf(ctx.Run(&c.globals))
}
