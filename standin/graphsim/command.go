package graphsim

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/entra-purge/entra-purge/standin/internal/cli"
)

// Command is `go run ./standin graph`: the simulator served over HTTP until ctx ends, for trying the
// purge handler by hand without a tenant:
//
//	go run ./standin graph -seed standin/seed.json
//
// The seed file is a JSON array of SeedObject. Tokens come from the identity stand-in
// (`go run ./standin identity`). Every request is logged to stdout as a JSON line.
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standin graph", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7081", "listen address")
	seed := fs.String("seed", "", "JSON file of objects to load (array of graphsim.SeedObject; example: standin/seed.json)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	sim := New(Options{Log: os.Stdout})
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
	fmt.Fprintf(os.Stderr, "graph: listening on %s (set PURGE_GRAPH_ENDPOINT=http://%s)\n", ln.Addr(), ln.Addr())
	return cli.Serve(ctx, ln, sim)
}
