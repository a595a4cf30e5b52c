package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/config"
	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/internal/sweep"
)

const sweepHelp = `
Runs the retention sweep now, from this machine: lists the recycle bin for each type in
PURGE_ALLOWED_TYPES (groups are never listed: they cannot be purged app-only) and enqueues one ordinary
purge request on PURGE_QUEUE_NAME for every object deleted at least --after ago (default
PURGE_SWEEP_AFTER), except PURGE_PROTECTED_IDS. It purges nothing itself: the function purges each request
with every check. Requests get the same MessageId all UTC day, so running it twice a day, or next to the
timer, enqueues nothing twice.

With --dry-run (or PURGE_DRY_RUN=true) nothing is enqueued and no Service Bus setting is needed: it reports
what would be enqueued, with a chart of the recycle bin by type and days since deletion, so you see the
backlog before enabling the schedule. A run stops at PURGE_SWEEP_TIMEOUT and says where; run it again.

Exit codes: 0 swept (or reported); 1 a type could not be listed (a missing permission) or the requests
could not be sent; 2 bad command line; 3 stopped at the deadline, Graph or Service Bus out of reach or
throttled past the retries: run again later; 4 a bad setting.

Examples:
  handler sweep --dry-run --after 7d
  handler sweep --after 14d --output json
`

func cmdSweep(ctx context.Context, args []string, e *env) int {
	stdout, stderr := e.stdout, e.stderr
	f := newFlags("sweep", "[--after D] [--dry-run] [--wait D] [--output text|json]", sweepHelp, e)
	afterFlag := f.String("after", "", "enqueue objects deleted at least this long ago, such as 7d (default PURGE_SWEEP_AFTER)")
	dryRun := f.Bool("dry-run", false, "report what would be enqueued, with a chart of the recycle bin; enqueue nothing")
	if code := f.parse(args, stdout); code >= 0 {
		return code
	}
	if f.NArg() > 0 {
		fmt.Fprintf(stderr, "handler sweep: unexpected argument %q; see handler help sweep\n", f.Arg(0))
		return exitUsage
	}
	var after time.Duration
	if *afterFlag != "" {
		d, err := config.ParseDuration(*afterFlag)
		if err == nil {
			err = config.CheckSweepAfter(d)
		}
		if err != nil {
			fmt.Fprintf(stderr, "handler sweep: --after %q: %v\n", *afterFlag, err)
			return exitUsage
		}
		after = d
	}
	cfg, code := loadConfig(e, false)
	if cfg == nil {
		return code
	}
	if after == 0 {
		after = cfg.SweepAfter
	}
	if after == 0 {
		fmt.Fprintf(stderr, "handler sweep: give --after (such as 7d) or set %s\n", config.EnvSweepAfter)
		return exitUsage
	}
	report := *dryRun || cfg.DryRun
	if !report && cfg.SBEndpoint == "" {
		fmt.Fprintf(stderr, "entra-purge: setting %s: not set: set it to the namespace host name (or %s to a connection string for a local emulator), or use --dry-run\n",
			config.EnvSBNamespace, config.EnvSBConnection)
		return exitConfig
	}
	a, err := newApp(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "entra-purge: "+err.Error())
		return exitFailure
	}
	defer a.Close()
	r := reach{cmd: "sweep", wait: *f.wait, stderr: stderr}
	targets := []target{a.graphTarget()}
	if id, ok := a.identityTarget(); ok {
		targets = append(targets, id)
	}
	if !report {
		targets = append(targets, a.serviceBusTarget())
	}
	for _, t := range targets {
		if err := r.dial(ctx, t); err != nil {
			fmt.Fprintf(stderr, "handler sweep: %v; nothing was enqueued\n", err)
			return exitCode(ctx, err)
		}
	}
	var enq sweep.Enqueuer
	if !report {
		enq = reachEnqueuer{r: r, t: a.serviceBusTarget(), bus: a.bus}
	}
	opts := &sweep.Options{Collect: report}
	if !f.json() {
		opts.Progress = func(ts sweep.TypeSummary) {
			if ts.Pages > 1 || ts.Listed >= 999 {
				fmt.Fprintf(stderr, "sweep: %s: %d pages, %d listed, %d eligible\n", ts.Type, ts.Pages, ts.Listed, ts.Eligible)
			}
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.SweepTimeout)
	sum := a.sweeper(reachLister{r: r, t: a.graphTarget(), g: a.graph}, enq, after, report, opts).Run(runCtx)
	cancel()
	if f.json() {
		writeJSON(stdout, sweepJSON(sum))
	} else {
		printSweep(stdout, sum)
	}
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case sum.Outcome == sweep.Completed:
		return exitOK
	case sum.Temporary(), sum.SendErr != nil && (bus.Temporary(sum.SendErr) || isUnreachable(sum.SendErr)):
		return exitRetryLater
	}
	return exitFailure
}

func isUnreachable(err error) bool {
	_, ok := errors.AsType[*unreachableError](err)
	return ok
}

// reachLister bounds each Graph call by --wait and says what it waits for, like every command.
type reachLister struct {
	r reach
	t target
	g sweep.Lister
}

func (l reachLister) ListDeleted(ctx context.Context, t directory.Type, next string) (page directory.DeletedPage, err error) {
	err = l.r.do(ctx, l.t, func(ctx context.Context) error {
		page, err = l.g.ListDeleted(ctx, t, next)
		return err
	})
	return page, err
}

// reachEnqueuer bounds each batch by --wait and says what it waits for.
type reachEnqueuer struct {
	r   reach
	t   target
	bus *bus.Client
}

func (q reachEnqueuer) SendBatch(ctx context.Context, queue string, msgs []message.Outgoing) error {
	return q.r.do(ctx, q.t, func(ctx context.Context) error { return q.bus.SendBatch(ctx, queue, msgs) })
}

// sweepJSON is the machine-readable report: the summary, with durations in milliseconds and, in a dry run,
// the requests that would be enqueued.
func sweepJSON(sum sweep.Summary) any {
	type typeJSON struct {
		sweep.TypeSummary
		DurationMs int64 `json:"durationMs"`
	}
	out := struct {
		sweep.Summary
		After        string            `json:"after"`
		DurationMs   int64             `json:"durationMs"`
		Types        []typeJSON        `json:"types"`
		Totals       sweep.TypeSummary `json:"totals"`
		WouldEnqueue []sweep.Object    `json:"wouldEnqueue,omitempty"`
	}{Summary: sum, After: config.FormatDuration(sum.After), DurationMs: sum.Duration.Milliseconds(), Totals: sum.Totals()}
	out.Totals.Ages = nil
	for _, ts := range sum.Types {
		out.Types = append(out.Types, typeJSON{ts, ts.Duration.Milliseconds()})
	}
	if sum.DryRun {
		out.WouldEnqueue = wouldEnqueue(sum)
		if out.WouldEnqueue == nil {
			out.WouldEnqueue = []sweep.Object{}
		}
	}
	return out
}

func wouldEnqueue(sum sweep.Summary) []sweep.Object {
	var out []sweep.Object
	for _, o := range sum.Objects {
		if o.MessageID != "" {
			out = append(out, o)
		}
	}
	return out
}

// maxListed bounds the requests a text dry run lists one by one; --output json lists them all.
const maxListed = 50

func printSweep(w io.Writer, sum sweep.Summary) {
	verb := "enqueued on " + sum.Queue
	if sum.DryRun {
		verb = "dry run: nothing enqueued"
	}
	fmt.Fprintf(w, "Retention sweep (%s): objects deleted at or before %s (%s ago); request ids for %s.\n\n",
		verb, sum.Cutoff.Format(time.RFC3339), config.FormatDuration(sum.After), sum.Day)
	fmt.Fprintf(w, "%-18s %8s %9s %10s %9s %6s  %s\n", "TYPE", "LISTED", "ELIGIBLE", "PROTECTED", "ENQUEUED", "PAGES", "NOTE")
	for _, ts := range sum.Types {
		note := ""
		switch {
		case ts.NotReached:
			note = "not reached before the deadline"
		case ts.CutShort:
			note = "stopped at the deadline"
		case ts.Error != "":
			note = firstLine(fmt.Errorf("%s", ts.Error))
		case ts.Undated > 0:
			note = fmt.Sprintf("%d without a deletion time", ts.Undated)
		}
		enq := fmt.Sprint(ts.Enqueued)
		if sum.DryRun {
			enq = fmt.Sprintf("(%d)", ts.Eligible-ts.Protected)
		}
		fmt.Fprintf(w, "%-18s %8d %9d %10d %9s %6d  %s\n", ts.Type, ts.Listed, ts.Eligible, ts.Protected, enq, ts.Pages, note)
	}
	for _, sk := range sum.Skipped {
		fmt.Fprintf(w, "%-18s not listed: %s\n", sk.Type, sk.Reason)
	}
	if sum.DryRun {
		fmt.Fprintln(w, "(ENQUEUED in brackets: what a real run would enqueue.)")
		printChart(w, sum)
		would := wouldEnqueue(sum)
		fmt.Fprintf(w, "\nWould enqueue %d request(s):\n", len(would))
		for i, o := range would {
			if i == maxListed {
				fmt.Fprintf(w, "  … and %d more (--output json lists them all)\n", len(would)-maxListed)
				break
			}
			fmt.Fprintf(w, "  %s  %-16s deleted %s (%d d ago)  %s\n", o.ID, o.Type, o.DeletedDateTime.Format(time.RFC3339), o.AgeDays, o.DisplayName)
		}
	}
	fmt.Fprintln(w)
	switch sum.Outcome {
	case sweep.Completed:
		fmt.Fprintf(w, "Sweep completed in %s.\n", sum.Duration.Round(time.Millisecond))
	case sweep.CutShort:
		fmt.Fprintf(w, "Sweep stopped at its deadline (PURGE_SWEEP_TIMEOUT): %s. What was listed was sent; run it again for the rest.\n", sum.StoppedAt)
	default:
		fmt.Fprintln(w, "Sweep failed: see the notes above.")
		if sum.StoppedAt != "" {
			fmt.Fprintf(w, "Stopped at %s.\n", sum.StoppedAt)
		}
	}
}

// chartWidth is the longest bar of the chart.
const chartWidth = 40

// printChart draws the recycle bin by type and days since deletion: one bar per age band, █ for objects
// past the retention (enqueued, or protected), ░ for those not yet past it.
func printChart(w io.Writer, sum sweep.Summary) {
	most := 0
	for _, ts := range sum.Types {
		for _, b := range ts.Ages {
			most = max(most, b.Count)
		}
	}
	fmt.Fprintf(w, "\nRecycle bin by days since deletion (█ past %s, ░ not yet):\n", config.FormatDuration(sum.After))
	for _, ts := range sum.Types {
		if ts.NotReached {
			continue
		}
		fmt.Fprintf(w, "  %s (%d)\n", ts.Type, ts.Listed)
		for _, b := range ts.Ages {
			label := fmt.Sprintf("%d–%d d", b.From, b.To)
			switch {
			case b.To < 0:
				label = fmt.Sprintf("%d d+", b.From)
			case b.From == b.To:
				label = fmt.Sprintf("%d d", b.From)
			}
			bar := ""
			if most > 0 && b.Count > 0 {
				n := max(1, (b.Count*chartWidth+most-1)/most)
				full := b.Eligible * n / b.Count
				if b.Eligible > 0 && full == 0 {
					full = 1
				}
				bar = strings.Repeat("█", full) + strings.Repeat("░", n-full)
			}
			fmt.Fprintf(w, "    %-9s %s %d\n", label, bar, b.Count)
		}
	}
}
