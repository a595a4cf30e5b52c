package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/message"
)

const failedHelp = `
Lists the messages on the failure queue (PURGE_FAILED_QUEUE_NAME): why each failed, which object, after
how many attempts, and Graph's request-id to quote to Microsoft support. It only peeks: nothing is locked
or removed. After fixing a cause, move messages back with 'handler replay'.

Examples:
  handler failed
  handler failed --max 500 --output json | jq -r '.[] | select(.reason=="Forbidden") | .objectId'
`

func cmdFailed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f := newFlags("failed", "[--max N] [--output text|json]", failedHelp, stderr)
	max := f.Int("max", 100, "list at most this many messages")
	if code := f.parse(args, stdout); code >= 0 {
		return code
	}
	if *max < 1 {
		fmt.Fprintln(stderr, "handler failed: --max must be at least 1")
		return exitUsage
	}
	a, code := openApp(getenv, stderr)
	if a == nil {
		return code
	}
	defer a.Close()
	cfg := a.cfg
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	peeked, err := a.bus.Peek(pctx, cfg.FailedQueue, *max)
	if err != nil {
		fmt.Fprintf(stderr, "handler failed: %v\n", err)
		return exitFailure
	}
	msgs := make([]message.FailedMessage, 0, len(peeked))
	for _, d := range peeked {
		msgs = append(msgs, d.Failed())
	}
	if f.json() {
		writeJSON(stdout, msgs)
		return exitOK
	}
	if len(msgs) == 0 {
		fmt.Fprintf(stdout, "%s is empty.\n", cfg.FailedQueue)
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
			graph = fmt.Sprintf("Graph %d %s, request-id %s", m.GraphStatus, m.GraphErrorCode, orDash(m.GraphRequestID))
		}
		fmt.Fprintf(stdout, "#%d  %s  %s  %s  attempts %d  %s\n", m.SequenceNumber, m.FailedAt, m.Reason, obj, m.Attempts, graph)
		fmt.Fprintf(stdout, "    %s\n", m.Description)
	}
	fmt.Fprintf(stdout, "%d message(s) on %s.\n", len(msgs), cfg.FailedQueue)
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
