package graphsim

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/entra-purge/entra-purge/standin/identity"
	"github.com/entra-purge/entra-purge/standin/internal/cli"
)

// Command is `go run ./standin graph`: the simulator served over HTTP until ctx ends, for trying the
// purge handler by hand without a tenant:
//
//	go run ./standin graph -seed standin/seed.json -print-token -roles User.DeleteRestore.All
//	curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:7081/v1.0/directory/deletedItems/<id>
//
// The seed file is a JSON array of SeedObject. Tokens come from the identity stand-in (or
// -print-token); the signing key is shared through STANDIN_SIGNING_KEY, with the same built-in
// development key on both sides when it is unset. Every request is logged to stdout as a JSON line.
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standin graph", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7081", "listen address")
	seed := fs.String("seed", "", "JSON file of objects to load (array of graphsim.SeedObject; example: standin/seed.json)")
	key := fs.String("signing-key", os.Getenv("STANDIN_SIGNING_KEY"), "HS256 key shared with the identity stand-in (env STANDIN_SIGNING_KEY; empty = built-in development key)")
	audience := fs.String("audience", DefaultAudience, "token audience accepted besides Graph's app id and the simulator's own URL")
	baseURL := fs.String("base-url", "", "base URL for @odata.context and next links (default: as addressed by the client)")
	ru := fs.Int("ru-limit", 0, "resource units per 10 s per app+tenant (0 = Graph's 3500, <0 = unlimited)")
	writes := fs.Int("write-limit", 0, "writes per 150 s per app+tenant (0 = Graph's 3000, <0 = unlimited)")
	tenantWrites := fs.Int("tenant-write-limit", 0, "writes per 5 min per tenant (0 = Graph's 18000, <0 = unlimited)")
	fractional := fs.Bool("fractional-retry-after", false, "send Retry-After with millisecond precision")
	noThrottle := fs.Bool("no-throttle", false, "turn throttling off")
	latency := fs.Duration("latency", 0, "delay every answer by this much")
	protection := fs.Int("protection-status", 0, "status for a purge refused by hard-delete protection (default 400)")
	auStatus := fs.Int("au-status", 0, "status for purging an administrative unit: 400 (default) or 403")
	roles := fs.String("roles", "User.DeleteRestore.All,Application.ReadWrite.All", "app roles of the token printed by -print-token")
	printToken := fs.Bool("print-token", false, "print a bearer token (roles from -roles) for use with curl")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}

	sim := New(Options{
		Audience: *audience, SigningKey: []byte(*key), BaseURL: *baseURL, Log: os.Stdout,
		Throttle: ThrottleLimits{
			ResourceUnits: *ru, Writes: *writes, TenantWrites: *tenantWrites,
			FractionalRetryAfter: *fractional, Disabled: *noThrottle,
		},
		ProtectionStatus: *protection, AdministrativeUnitStatus: *auStatus,
	})
	sim.SetLatency(*latency)
	if *seed != "" {
		f, err := os.Open(*seed)
		if err != nil {
			return err
		}
		objs, err := ParseSeed(f, time.Now())
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *seed, err)
		}
		sim.Add(objs...)
		fmt.Fprintf(os.Stderr, "graph: loaded %d objects from %s\n", len(objs), *seed)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(os.Stderr, "graph: listening on %s (set PURGE_GRAPH_ENDPOINT=%s)\n", ln.Addr(), base)
	if *printToken {
		tok, _, err := identity.New(identity.Options{Roles: cli.SplitList(*roles), SigningKey: []byte(*key)}).Issue(base)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "  export TOKEN=%s\n", tok)
	}
	return cli.Serve(ctx, ln, sim)
}
