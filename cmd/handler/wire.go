package main

// The wiring: configuration, credentials, the Graph client, Service Bus and the purge domain assembled
// into what the executable runs (the host-facing server and the operator's commands). This file is the
// only place that knows every package.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/config"
	"github.com/entra-purge/entra-purge/internal/graph"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/internal/purge"
	"github.com/entra-purge/entra-purge/internal/sweep"
	"github.com/entra-purge/entra-purge/internal/throttle"
)

// The Graph client is the domain's directory.
var _ purge.Directory = (*graph.Client)(nil)

// app holds the long-lived clients built from a Config.
type app struct {
	cfg   *config.Config
	cred  azcore.TokenCredential
	graph *graph.Client
	// bus is nil when no Service Bus setting is given (handler purge needs none).
	bus *bus.Client
}

// newApp builds the clients. Nothing touches the network here: a missing queue or an unreachable Graph
// shows up on first use, as a retry or a 500, never as a start-up failure. Trouble with the throttling
// state file is told once on stderr.
func newApp(cfg *config.Config, stderr io.Writer) (*app, error) {
	cred, err := credential(cfg)
	if err != nil {
		return nil, err
	}
	gc, err := graph.NewClient(cfg.GraphEndpoint, cred, &graph.ClientOptions{
		ClientOptions: azcore.ClientOptions{InsecureAllowCredentialWithHTTP: cfg.GraphInsecureHTTP},
		Scope:         cfg.GraphScope,
		// One controller for the process: what one call learns about Graph's limits holds back all others.
		Throttle: throttle.New(&throttle.Options{
			WritesPerSecond: cfg.MaxWritesPerSecond,
			StateFile:       throttleStateFile(cfg),
			OnStateError:    onceOn(stderr, "Graph's throttling pauses are kept in this process only"),
		}),
	})
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, cred: cred, graph: gc}
	if cfg.SBEndpoint != "" {
		if a.bus, err = bus.NewClient(cfg.SBConnectionString, cfg.SBNamespace, cred, nil); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// throttleStateFile is where the process keeps its Graph pauses for the process that follows it (a worker
// the host restarts, an operator's next command): in the temporary directory, named after the Graph
// endpoint and the identity, because Graph throttles per application and tenant.
func throttleStateFile(cfg *config.Config) string {
	sum := sha256.Sum256([]byte(cfg.GraphEndpoint + "\x00" + cfg.ClientID))
	return filepath.Join(os.TempDir(), "entra-purge-throttle-"+hex.EncodeToString(sum[:8])+".json")
}

// onceOn returns a reporter that writes its first error to w with what it means, and drops the rest.
func onceOn(w io.Writer, meaning string) func(error) {
	var once sync.Once
	return func(err error) {
		once.Do(func() { fmt.Fprintf(w, "entra-purge: %v; %s\n", err, meaning) })
	}
}

// processor is the purge domain deciding with the Graph client under policy.
func (a *app) processor(policy purge.Policy) *purge.Processor {
	return purge.NewProcessor(a.graph, policy, nil)
}

// The Graph client reads the recycle bin for the sweep, and the bus client enqueues its requests.
var (
	_ sweep.Lister   = (*graph.Client)(nil)
	_ sweep.Enqueuer = (*bus.Client)(nil)
)

// sweeper is the retention sweep reading with l (the Graph client) and enqueuing with enq (the bus client;
// unused in a dry run) under the configuration, with the retention after.
func (a *app) sweeper(l sweep.Lister, enq sweep.Enqueuer, after time.Duration, dryRun bool, opts *sweep.Options) *sweep.Sweeper {
	return sweep.New(l, enq, sweep.Policy{
		Types: a.cfg.AllowedTypes, ProtectedIDs: a.cfg.ProtectedIDs, After: after, Queue: a.cfg.Queue, DryRun: dryRun || a.cfg.DryRun,
	}, opts)
}

// queues are the two queues messages are secured on.
func (a *app) queues() message.Queues {
	return message.Queues{Trigger: a.cfg.Queue, Failed: a.cfg.FailedQueue}
}

// policyOf maps the configuration onto the purge policy.
func policyOf(cfg *config.Config) purge.Policy {
	return purge.Policy{
		AllowedTypes: cfg.AllowedTypes, ProtectedIDs: cfg.ProtectedIDs, Verify: cfg.Verify, AllowSynced: cfg.AllowSynced,
		MinDeletedAge: cfg.MinDeletedAge, DryRun: cfg.DryRun, MaxAttempts: cfg.MaxAttempts, NotFoundGrace: cfg.NotFoundGrace,
		RetryBaseDelay: cfg.RetryBaseDelay, RetryMaxDelay: cfg.RetryMaxDelay,
	}
}

// credential is the managed identity when the platform's identity endpoint is present (in Azure, or the
// local stand-in), user-assigned when AZURE_CLIENT_ID is set; otherwise DefaultAzureCredential, so a
// developer's `az login` works.
func credential(cfg *config.Config) (azcore.TokenCredential, error) {
	if cfg.ManagedIdentity {
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if cfg.ClientID != "" {
			opts.ID = azidentity.ClientID(cfg.ClientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(opts)
		if err != nil {
			return nil, fmt.Errorf("managed identity credential: %w", err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("default credential: %w", err)
	}
	return cred, nil
}

// Close releases the Service Bus connection.
func (a *app) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a.bus != nil {
		_ = a.bus.Close(ctx)
	}
}
