package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/internal/purge"
)

var replayHelp = `
Moves messages from the failure queue back to the trigger queue, after the cause is fixed (a permission
granted, a policy changed). Each message is removed from the failure queue only after its copy was sent,
so an interrupted replay loses nothing. A replayed request starts afresh: attempt 1, a new not-found
grace window. --dry-run lists what would move and moves nothing.

Reasons: ` + reasonList() + `.

Examples:
  handler replay --reason Forbidden --dry-run
  handler replay --reason RetriesExhausted --max 100
`

func cmdReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f := newFlags("replay", "[--reason REASON] [--max N] [--dry-run] [--output text|json]", replayHelp, stderr)
	reason := f.String("reason", "", "replay only messages that failed for this reason")
	max := f.Int("max", 0, "replay at most this many messages (0: all)")
	dryRun := f.Bool("dry-run", false, "list what would be replayed; move nothing")
	if code := f.parse(args, stdout); code >= 0 {
		return code
	}
	var only purge.Reason
	if *reason != "" {
		r, ok := purge.ParseReason(*reason)
		if !ok {
			fmt.Fprintf(stderr, "handler replay: --reason %q is not a failure reason (%s)\n", *reason, reasonList())
			return exitUsage
		}
		only = r
	}
	if *max < 0 {
		fmt.Fprintln(stderr, "handler replay: --max must not be negative")
		return exitUsage
	}
	a, code := openApp(getenv, stderr)
	if a == nil {
		return code
	}
	defer a.Close()
	cfg := a.cfg
	res, err := a.bus.Replay(ctx, cfg.FailedQueue, cfg.Queue, bus.ReplayOptions{
		Reason: only, Max: *max, DryRun: *dryRun,
		Progress: func(done int, m message.FailedMessage) {
			if !f.json() {
				fmt.Fprintf(stdout, "replayed %s (%s, %s)\n", orDash(m.ObjectID), m.Reason, m.MessageID)
			}
			if done%50 == 0 {
				fmt.Fprintf(stderr, "replay: %d moved so far\n", done)
			}
		},
	})
	if res.Replayed == nil {
		res.Replayed = []message.FailedMessage{}
	}
	if f.json() {
		writeJSON(stdout, map[string]any{"dryRun": *dryRun, "from": cfg.FailedQueue, "to": cfg.Queue, "replayed": res.Replayed,
			"count": len(res.Replayed), "skipped": res.Skipped, "error": errString(err)})
	} else {
		if *dryRun {
			for _, m := range res.Replayed {
				fmt.Fprintf(stdout, "would replay %s (%s, %s)\n", orDash(m.ObjectID), m.Reason, m.MessageID)
			}
		}
		verb := "replayed"
		if *dryRun {
			verb = "would replay"
		}
		fmt.Fprintf(stdout, "%s %d message(s) from %s to %s; %d left in place (other reasons).\n", verb, len(res.Replayed), cfg.FailedQueue, cfg.Queue, res.Skipped)
	}
	if err != nil {
		fmt.Fprintf(stderr, "handler replay: stopped after %d: %v\n", len(res.Replayed), err)
		return exitFailure
	}
	return exitOK
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
