package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/entra-purge/entra-purge/internal/message"
)

const failedHelp = `
Lists the messages on the failure queue (PURGE_FAILED_QUEUE_NAME), oldest first: why each failed, which
object, after how many attempts, and Graph's request-id to quote to Microsoft support. It only peeks:
nothing is locked or removed. After fixing a cause, move messages back with 'handler replay'.

Exit codes: 0 listed; 1 the queue could not be read (missing, refused); 3 Service Bus out of reach;
4 a bad setting.

Examples:
  handler failed
  handler failed --max 500 --output json | jq -r '.[] | select(.reason=="Forbidden") | .objectId'
`

func cmdFailed(ctx context.Context, args []string, e *env) int {
	f := newFlags("failed", "[--max N] [--wait D] [--output text|json]", failedHelp, e)
	max := f.Int("max", 100, "list at most this many messages")
	if code := f.parse(args, e.stdout); code >= 0 {
		return code
	}
	if *max < 1 {
		fmt.Fprintln(e.stderr, "handler failed: --max must be at least 1")
		return exitUsage
	}
	a, code := openApp(e, true)
	if a == nil {
		return code
	}
	defer a.Close()
	cfg := a.cfg
	r := reach{cmd: "failed", wait: *f.wait, stderr: e.stderr}
	sb := a.serviceBusTarget()
	var peeked []message.Delivery
	err := r.dial(ctx, sb)
	if err == nil {
		// One more than asked for tells whether the queue holds more than is shown.
		err = r.do(ctx, sb, func(ctx context.Context) (err error) {
			peeked, err = a.bus.Peek(ctx, cfg.FailedQueue, *max+1)
			return err
		})
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "handler failed: %v\n", err)
		return exitCode(ctx, err)
	}
	more := len(peeked) > *max
	if more {
		peeked = peeked[:*max]
	}
	msgs := make([]message.FailedMessage, 0, len(peeked))
	for _, d := range peeked {
		msgs = append(msgs, d.Failed())
	}
	if f.json() {
		writeJSON(e.stdout, msgs)
		if more {
			fmt.Fprintf(e.stderr, "handler failed: listed the first %d; %s holds more (raise --max to see them)\n", *max, cfg.FailedQueue)
		}
		return exitOK
	}
	if len(msgs) == 0 {
		fmt.Fprintf(e.stdout, "%s is empty.\n", cfg.FailedQueue)
		return exitOK
	}
	// One block per message: the facts on one line, the description (long, and what to do) below it.
	for _, m := range msgs {
		obj := m.ObjectID
		if obj == "" {
			obj = "(invalid: " + clipText(m.Body, 40) + ")"
		}
		graph := "no Graph call"
		if m.GraphStatus != 0 {
			graph = fmt.Sprintf("Graph %s, request-id %s", strings.TrimSpace(fmt.Sprintf("%d %s", m.GraphStatus, m.GraphErrorCode)), orDash(m.GraphRequestID))
		}
		fmt.Fprintf(e.stdout, "#%d  %s  %s  %s  attempts %d  %s\n", m.SequenceNumber, m.FailedAt, m.Reason, obj, m.Attempts, graph)
		fmt.Fprintf(e.stdout, "    %s\n", m.Description)
	}
	if more {
		fmt.Fprintf(e.stdout, "The first %d message(s) on %s; it holds more (raise --max to see them).\n", len(msgs), cfg.FailedQueue)
	} else {
		fmt.Fprintf(e.stdout, "%d message(s) on %s.\n", len(msgs), cfg.FailedQueue)
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
