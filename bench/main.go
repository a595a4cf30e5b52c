// Command bench is `make bench`: it measures entra-purge against the goals of issue 10 on the project's own
// stand-ins and writes bench/results.json, the generated part of docs/benchmarks.md and the chart
// docs/benchmarks.svg. docs/benchmarks.md says what each figure is and how it is measured.
//
//	go run ./bench [-only start,burst,cpu,throttled] [-rounds N] [-cpu-rate R] [-instances N] [-ceiling W] [-no-write]
//
// It needs ./handler from `make build` and the emulator's npm packages (`make deps`); `make bench` makes
// both first. Only a complete run with the defaults writes the files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/entra-purge/entra-purge/standin/localstack"
)

// options are the command line's.
type options struct {
	parts     map[string]bool
	rounds    int
	cpuRate   float64
	instances int // 0: both throttled runs
	ceiling   int // 0: PURGE_MAX_WRITES_PER_SECOND as infra/ sets it
	noWrite   bool
}

// defaults marks a run whose results may be written: every part, the parameters.
func (o options) defaults() bool {
	return len(o.parts) == len(allParts) && o.rounds == defaultRounds && o.cpuRate == defaultCPURate && o.instances == 0 && o.ceiling == 0
}

var allParts = []string{"start", "burst", "cpu", "throttled"}

const (
	defaultRounds  = 3
	defaultCPURate = 1000
)

// throttledRuns are the two throttled runs.
var throttledRuns = []struct{ instances, requests int }{{1, 1000}, {4, 2000}}

func main() {
	var o options
	only := flag.String("only", "", "comma-separated parts to run: "+strings.Join(allParts, ", ")+" (default all)")
	flag.IntVar(&o.rounds, "rounds", defaultRounds, "CPU rounds per handler")
	flag.Float64Var(&o.cpuRate, "cpu-rate", defaultCPURate, "invocations offered per second in the CPU runs (0: as fast as 16 at a time go)")
	flag.IntVar(&o.instances, "instances", 0, "run only the throttled run with this many instances (1 or 4)")
	flag.IntVar(&o.ceiling, "ceiling", 0, "PURGE_MAX_WRITES_PER_SECOND for the throttled runs instead of infra's")
	flag.BoolVar(&o.noWrite, "no-write", false, "print the results, write no file")
	flag.Parse()
	var err error
	if o.parts, err = parseParts(*only); err == nil && o.rounds < 1 {
		err = errors.New("-rounds must be at least 1")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseParts(only string) (map[string]bool, error) {
	out := map[string]bool{}
	if only == "" {
		for _, p := range allParts {
			out[p] = true
		}
		return out, nil
	}
	for _, p := range strings.Split(only, ",") {
		p = strings.TrimSpace(p)
		known := false
		for _, a := range allParts {
			known = known || a == p
		}
		if !known {
			return nil, fmt.Errorf("-only: unknown part %q (the parts: %s)", p, strings.Join(allParts, ", "))
		}
		out[p] = true
	}
	return out, nil
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	root, err := localstack.ModuleRoot()
	if err != nil {
		return err
	}
	handler, size, err := handlerBinary(root)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "entra-purge-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bare, err := buildBare(root, tmp)
	if err != nil {
		return err
	}
	res := &Results{Machine: describeMachine(), Binary: binaryResult{Bytes: size}}

	if o.parts["start"] {
		progress("cold start: exec → first answer on GET /, 20 times")
		if res.ColdStart, err = measureColdStart(ctx, root, handler, 20); err != nil {
			return err
		}
	}
	if o.parts["burst"] {
		progress("cold burst: 100 concurrent first invocations, Graph over TLS")
		if res.ColdBurst, err = measureColdBurst(ctx, root, handler, bare, 100); err != nil {
			return err
		}
	}
	if o.parts["cpu"] {
		variants := []cpuVariant{
			{Key: "off", Name: "entra-purge, verification off", Binary: handler, Purged: entraPurged, Settings: cpuSettings(false)},
			{Key: "on", Name: "entra-purge, verification on", Binary: handler, Purged: entraPurged, Settings: cpuSettings(true)},
			{Key: "bare", Name: "bare token-and-DELETE handler", Binary: bare, Purged: barePurged},
		}
		if res.CPU, err = measureCPU(ctx, root, variants, o.rounds, 10000, 16, o.cpuRate, cpuOverTLS, progress); err != nil {
			return err
		}
	}
	if o.parts["throttled"] {
		for _, tr := range throttledRuns {
			if o.instances != 0 && tr.instances != o.instances {
				continue
			}
			progress("throttled: %s, %s requests, write bucket %d per %s", instancesText(tr.instances), thousands(tr.requests), bucketCapacity, bucketWindow)
			r, err := runThrottled(ctx, root, tr.instances, tr.requests, o.ceiling, progress)
			if err != nil {
				return err
			}
			res.Throttled = append(res.Throttled, r)
		}
	}
	res.Seconds = time.Since(began).Seconds()
	res.Generated = time.Now().UTC().Truncate(time.Second)
	res.evaluate()
	res.print(os.Stdout)
	switch {
	case o.noWrite:
		return nil
	case !o.defaults():
		fmt.Fprintln(os.Stderr, "bench: not a complete run with the defaults, so no file was written")
		return nil
	}
	if err := res.write(root); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "bench: wrote bench/results.json, docs/benchmarks.md and docs/benchmarks.svg")
	return nil
}
