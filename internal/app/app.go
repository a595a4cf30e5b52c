// Package app wires configuration, credentials, the Graph client, Service Bus and the purge domain into
// the pieces the executable runs: the host-facing server and the operator's commands. It is the only
// package that knows all the others.
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/config"
	"github.com/entra-purge/entra-purge/internal/graph"
	"github.com/entra-purge/entra-purge/internal/purge"
)

// App holds the long-lived clients built from a Config.
type App struct {
	Config    *config.Config
	Cred      azcore.TokenCredential
	Graph     *graph.Client
	Bus       *bus.Client
	Processor *purge.Processor
}

// New builds the clients. Nothing touches the network here: a missing queue or an unreachable Graph shows
// up on first use, as a retry or a 500, never as a start-up failure.
func New(cfg *config.Config) (*App, error) {
	cred, err := Credential(cfg)
	if err != nil {
		return nil, err
	}
	gc, err := graph.NewClient(cfg.GraphEndpoint, cred, &graph.ClientOptions{
		ClientOptions: azcore.ClientOptions{InsecureAllowCredentialWithHTTP: cfg.GraphInsecureHTTP},
		Scope:         cfg.GraphScope,
	})
	if err != nil {
		return nil, err
	}
	bc, err := bus.NewClient(cfg.SBConnectionString, cfg.SBNamespace, cred)
	if err != nil {
		return nil, err
	}
	return &App{
		Config: cfg, Cred: cred, Graph: gc, Bus: bc,
		Processor: &purge.Processor{Directory: gc, Policy: PolicyOf(cfg)},
	}, nil
}

// PolicyOf maps the configuration onto the purge policy.
func PolicyOf(cfg *config.Config) purge.Policy {
	return purge.Policy{
		AllowedTypes: cfg.AllowedTypes, ProtectedIDs: cfg.ProtectedIDs, Verify: cfg.Verify, AllowSynced: cfg.AllowSynced,
		MinDeletedAge: cfg.MinDeletedAge, DryRun: cfg.DryRun, MaxAttempts: cfg.MaxAttempts, NotFoundGrace: cfg.NotFoundGrace,
		RetryBaseDelay: cfg.RetryBaseDelay, RetryMaxDelay: cfg.RetryMaxDelay,
	}
}

// Credential is the managed identity when the platform's identity endpoint is present (in Azure, or the
// local stand-in), user-assigned when AZURE_CLIENT_ID is set; otherwise DefaultAzureCredential, so a
// developer's `az login` works.
func Credential(cfg *config.Config) (azcore.TokenCredential, error) {
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
func (a *App) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Bus.Close(ctx)
}
