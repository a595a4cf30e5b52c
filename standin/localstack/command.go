package localstack

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/entra-purge/entra-purge/standin/internal/cli"
)

// Command is `go run ./standin localstack`, which `make run` runs: the whole entra-purge pipeline on this
// machine, no Azure account needed. It starts the Service Bus emulator, the Graph simulator and the
// managed-identity endpoint, runs ./handler under the Functions host stand-in, enqueues one request per
// scenario and prints where each one ended. When ctx ends (Ctrl-C) everything is stopped and it returns
// an error wrapping cli.ErrInterrupted; no process is left behind.
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standin localstack", flag.ContinueOnError)
	logDir := fs.String("logs", "", "directory for the full logs (default: a new temporary directory)")
	timeout := fs.Duration("timeout", 90*time.Second, "give up after this long")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	report, err := RunDemo(ctx, DemoOptions{Progress: os.Stdout, LogDir: *logDir, Timeout: *timeout})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w; the emulator, simulators, host and handler have been stopped", cli.ErrInterrupted)
		}
		return err
	}
	report.PrintTable(os.Stdout)
	if !report.OK() {
		return fmt.Errorf("some requests did not end as expected (✗ above)")
	}
	return nil
}
