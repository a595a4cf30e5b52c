package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/internal/purge"
)

var replayHelp = `
Moves messages from the failure queue back to the trigger queue, after the cause is fixed (a permission
granted, a policy changed). A run takes only the messages that were on the failure queue when it started,
each at most once, and then ends: a request that fails again during the run waits for the next one. Each
message is removed from the failure queue only after its copy was sent, so an interrupted replay loses
nothing. A replayed request starts afresh: attempt 1, a new not-found grace window. --dry-run lists what
would move and moves nothing.

Reasons: ` + reasonList() + `.

Exit codes: 0 every selected message moved; 1 a queue could not be used (missing, refused); 3 Service Bus
out of reach, or some messages could not be received (run again); 4 a bad setting.

Examples:
  handler replay --reason Forbidden --dry-run
  handler replay --reason RetriesExhausted --max 100
`

func cmdReplay(ctx context.Context, args []string, e *env) int {
	f := newFlags("replay", "[--reason REASON] [--max N] [--dry-run] [--wait D] [--output text|json]", replayHelp, e)
	reason := f.String("reason", "", "replay only messages that failed for this reason")
	max := f.Int("max", 0, "replay at most this many messages (0: all)")
	dryRun := f.Bool("dry-run", false, "list what would be replayed; move nothing")
	if code := f.parse(args, e.stdout); code >= 0 {
		return code
	}
	var only purge.Reason
	if *reason != "" {
		r, ok := purge.ParseReason(*reason)
		if !ok {
			fmt.Fprintf(e.stderr, "handler replay: --reason %q is not a failure reason (%s)\n", *reason, reasonList())
			return exitUsage
		}
		only = r
	}
	if *max < 0 {
		fmt.Fprintln(e.stderr, "handler replay: --max must not be negative")
		return exitUsage
	}
	a, code := openApp(e, true)
	if a == nil {
		return code
	}
	defer a.Close()
	cfg := a.cfg
	r := reach{cmd: "replay", wait: *f.wait, stderr: e.stderr}
	sb := a.serviceBusTarget()
	opts := bus.ReplayOptions{Reason: only, Max: *max,
		Progress: func(done int, m message.FailedMessage) {
			if !f.json() {
				fmt.Fprintf(e.stdout, "replayed %s (%s, %s)\n", orDash(m.ObjectID), m.Reason, m.MessageID)
			}
			if done%50 == 0 {
				fmt.Fprintf(e.stderr, "replay: %d moved so far\n", done)
			}
		},
	}

	var snap bus.Snapshot
	err := r.dial(ctx, sb)
	if err == nil {
		err = r.do(ctx, sb, func(ctx context.Context) (err error) {
			snap, err = a.bus.Snapshot(ctx, cfg.FailedQueue)
			return err
		})
	}
	report := func(res bus.ReplayResult, err error) int {
		code := exitCode(ctx, err)
		if err == nil && res.NotReceived > 0 {
			code = exitRetryLater
		}
		if f.json() {
			writeJSON(e.stdout, map[string]any{"dryRun": *dryRun, "from": cfg.FailedQueue, "to": cfg.Queue, "replayed": res.Replayed,
				"count": len(res.Replayed), "skipped": res.Skipped, "beyondMax": res.BeyondMax, "notReceived": res.NotReceived,
				"arrived": res.Arrived, "error": errString(err)})
		} else {
			fmt.Fprintln(e.stdout, replaySummary(res, *dryRun, cfg.FailedQueue, cfg.Queue))
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "handler replay: stopped after %d: %v\n", len(res.Replayed), err)
		}
		return code
	}
	if err != nil {
		return report(bus.ReplayResult{Replayed: []message.FailedMessage{}}, err)
	}
	plan := bus.Plan(snap, opts)
	if *dryRun {
		if !f.json() {
			for _, m := range plan.Selected {
				fmt.Fprintf(e.stdout, "would replay %s (%s, %s)\n", orDash(m.ObjectID), m.Reason, m.MessageID)
			}
		}
		return report(bus.ReplayResult{Replayed: append([]message.FailedMessage{}, plan.Selected...), Skipped: plan.Skipped, BeyondMax: plan.BeyondMax}, nil)
	}
	res, err := a.bus.Replay(ctx, snap, plan, cfg.Queue, opts)
	return report(res, err)
}

// replaySummary says in one sentence what moved and what was left where, and why.
func replaySummary(res bus.ReplayResult, dryRun bool, from, to string) string {
	verb := "replayed"
	if dryRun {
		verb = "would replay"
	}
	s := fmt.Sprintf("%s %d message(s) from %s to %s", verb, len(res.Replayed), from, to)
	var left []string
	if res.Skipped > 0 {
		left = append(left, fmt.Sprintf("%d left in place (other reasons)", res.Skipped))
	}
	if res.BeyondMax > 0 {
		left = append(left, fmt.Sprintf("%d left for a later run (--max)", res.BeyondMax))
	}
	if res.NotReceived > 0 {
		left = append(left, fmt.Sprintf("%d could not be received (locked by another receiver, or Service Bus stopped answering: run again)", res.NotReceived))
	}
	if res.Arrived > 0 {
		left = append(left, fmt.Sprintf("%d arrived during the run and were not taken (a request that failed again: fix the cause, then run again)", res.Arrived))
	}
	if len(left) == 0 {
		return s + "."
	}
	return s + "; " + strings.Join(left, "; ") + "."
}

// reasonList names every failure reason, from the one list.
func reasonList() string {
	names := make([]string, len(purge.Reasons))
	for i, r := range purge.Reasons {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
