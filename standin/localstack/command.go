// Command devstack is `make run`: the whole entra-purge pipeline on this machine, no Azure account needed.
// It starts the Service Bus emulator, the Graph simulator and the managed-identity endpoint, runs ./handler
// under the Functions host stand-in, enqueues one request per scenario and prints where each one ended.
// Ctrl-C stops everything; no process is left behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/entra-purge/entra-purge/internal/standin/demo"
)

func main() {
	logDir := flag.String("logs", "", "directory for the full logs (default: a new temporary directory)")
	timeout := flag.Duration("timeout", 90*time.Second, "give up after this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := demo.Run(ctx, demo.Options{Progress: os.Stdout, LogDir: *logDir, Timeout: *timeout})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "devstack: interrupted; the emulator, simulators, host and handler have been stopped")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
	report.PrintTable(os.Stdout)
	if !report.OK() {
		fmt.Fprintln(os.Stderr, "devstack: some requests did not end as expected (✗ above)")
		os.Exit(1)
	}
}
