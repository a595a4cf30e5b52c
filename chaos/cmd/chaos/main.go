// Command chaos is `make chaos`: thousands of purge requests through the real handler under the Functions
// host stand-in, with Graph, the identity endpoint and Service Bus failing on a schedule drawn from a seed
// and the handler killed mid-flight; then a ledger of where every request ended (package chaos).
//
//	go run ./chaos/cmd/chaos [-requests 2000] [-duration 150s] [-seed 1] [-out chaos-report.json] [-logs DIR] [-handler ./handler]
//
// It prints the counts, the faults and every violation, writes them as JSON to -out, and exits 0 when the
// ledger has no violation and every scheduled fault hit, 1 otherwise, 2 for a bad command line and 3 when
// the run could not be carried out.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/entra-purge/entra-purge/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	requests := fs.Int("requests", 2000, "original purge requests to send (a quarter invalid or protected, 15 % never deleted)")
	duration := fs.Duration("duration", 150*time.Second, "how long requests are sent for; the faults fall in this time")
	seed := fs.Uint64("seed", 1, "seed of the requests and the fault schedule (the same seed, the same plan)")
	out := fs.String("out", "chaos-report.json", "where the report goes as JSON (- for standard output)")
	logs := fs.String("logs", "", "directory for every output of the run (default: a new temporary directory)")
	handler := fs.String("handler", "", "the built handler executable (default: ./handler under the module root)")
	timeout := fs.Duration("timeout", 0, "bound of the whole run (default: duration + 5m)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *requests < 1 || *duration <= 0 || *seed == 0 {
		fmt.Fprintln(os.Stderr, "chaos: want -requests ≥ 1, -duration > 0, -seed ≥ 1 and no arguments")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := chaos.Run(ctx, chaos.Options{Requests: *requests, Duration: *duration, Seed: *seed, LogDir: *logs,
		Handler: *handler, Timeout: *timeout, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	rep.Print(os.Stdout)
	b, _ := json.MarshalIndent(rep, "", "  ")
	b = append(b, '\n')
	if *out == "-" {
		_, _ = os.Stdout.Write(b)
	} else if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: writing the report:", err)
		return 3
	} else {
		fmt.Printf("\nreport written to %s\n", *out)
	}
	if !rep.OK() {
		return 1
	}
	return 0
}
