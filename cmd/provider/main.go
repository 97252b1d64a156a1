// Command provider runs the Quorum Crossplane provider: the managed resources
// for virtual machines, database nodes, users and backups.
package main

import (
	"io"
	"time"

	"github.com/alecthomas/kong"
	"github.com/crossplane/crossplane-runtime/v2/pkg/controller"
	"github.com/crossplane/crossplane-runtime/v2/pkg/feature"
	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
	"github.com/crossplane/crossplane-runtime/v2/pkg/ratelimiter"
	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/statemetrics"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/quorumdb/quorum/apis"
	"github.com/quorumdb/quorum/internal/apiclient"
	qcontroller "github.com/quorumdb/quorum/internal/controller"
	"github.com/quorumdb/quorum/internal/controller/databasenode"
)

type cli struct {
	Debug              bool          `short:"d" help:"Run with debug logging."`
	LeaderElection     bool          `env:"LEADER_ELECTION" help:"Use leader election for the controller manager."`
	Sync               time.Duration `default:"1h" help:"How often all resources are re-read from the API server."`
	Poll               time.Duration `default:"1m" help:"How often each resource is checked for drift from its desired state."`
	PollStateMetric    time.Duration `default:"5s" help:"How often resource state metrics are recorded."`
	MaxReconcileRate   int           `default:"100" help:"Global maximum rate per second of reconciles (and concurrent reconciles per kind); the API client is allowed five times this many requests per second."`
	MaxCloudRate       int           `default:"10" help:"Maximum rate per second of VirtualMachine reconciles, which call cloud APIs with per-subscription request quotas."`
	MetricsBindAddress string        `default:"127.0.0.1:0" help:"Address of the Prometheus metrics endpoint."`
	HealthProbeAddress string        `default:"127.0.0.1:0" help:"Address of the health probe endpoint."`
	ManagementPolicies bool          `default:"true" negatable:"" help:"Honour managementPolicies on managed resources."`
	NodeBaseDir        string        `default:"/var/lib/quorum" help:"Directory on database hosts holding each node's data, configuration and logs."`
	PlatformNamespace  string        `default:"crossplane-system" env:"POD_NAMESPACE" help:"The provider's namespace: repositories may use the platform's credentials kept there (and no other namespace's)."`
	Profiling          string        `help:"Address to serve Go's pprof endpoints on (for example 127.0.0.1:6060); off if empty."`
}

func (c *cli) Run() error {
	zl := zap.New(zap.UseDevMode(c.Debug), zap.JSONEncoder())
	log := logging.NewLogrLogger(zl.WithName("provider-quorum"))
	if c.Debug {
		ctrl.SetLogger(zl)
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ratelimiter.LimitRESTConfig(cfg, c.MaxReconcileRate), ctrl.Options{
		// Managed fields are never read here: a third of a cached object.
		Cache: cache.Options{SyncPeriod: &c.Sync, DefaultTransform: cache.TransformStripManagedFields()},
		// Reads its own writes and skips unchanged status writes (see
		// internal/apiclient): 409s and writes per created resource.
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			k, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return apiclient.New(k), nil
		},
		PprofBindAddress:           c.Profiling,
		Metrics:                    metricsserver.Options{BindAddress: c.MetricsBindAddress},
		HealthProbeBindAddress:     c.HealthProbeAddress,
		LeaderElection:             c.LeaderElection,
		LeaderElectionID:           "crossplane-leader-election-provider-quorum",
		LeaderElectionResourceLock: resourcelock.LeasesResourceLock,
	})
	if err != nil {
		return err
	}
	if err := apis.AddToScheme(mgr.GetScheme()); err != nil {
		return err
	}

	mrMetrics := managed.NewMRMetricRecorder()
	stateMetrics := statemetrics.NewMRStateMetrics()
	metrics.Registry.MustRegister(mrMetrics, stateMetrics)

	o := controller.Options{
		Logger:                  log,
		MaxConcurrentReconciles: c.MaxReconcileRate,
		PollInterval:            c.Poll,
		GlobalRateLimiter:       ratelimiter.NewGlobal(c.MaxReconcileRate),
		Features:                &feature.Flags{},
		MetricOptions: &controller.MetricOptions{
			PollStateMetricInterval: c.PollStateMetric,
			MRMetrics:               mrMetrics,
			MRStateMetrics:          stateMetrics,
		},
	}
	if c.ManagementPolicies {
		o.Features.Enable(feature.EnableBetaManagementPolicies)
	}
	databasenode.BaseDir = c.NodeBaseDir
	databasenode.PlatformNamespace = c.PlatformNamespace
	if err := qcontroller.Setup(mgr, o, c.MaxCloudRate); err != nil {
		return err
	}
	log.Info("starting provider")
	return mgr.Start(ctrl.SetupSignalHandler())
}

func main() {
	ctx := kong.Parse(&cli{}, kong.Description("The Quorum Crossplane provider."))
	ctx.FatalIfErrorf(ctx.Run())
}
