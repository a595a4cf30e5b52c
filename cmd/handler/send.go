package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/message"
)

const sendHelp = `
Enqueues one purge request per id on PURGE_QUEUE_NAME, in the message format the function reads
({"id": …, "type": …, "reason": …, "requestedBy": …}). Every id is validated before anything is sent.
IDs may also be given one per line on standard input with "-".

Exit codes: 0 all sent; 1 refused (a missing queue, a refused key); 3 Service Bus out of reach (nothing
more was sent: run again for the rest); 4 a bad setting.

Examples:
  handler send --type user --reason leaver --requested-by hr-flow 8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b
  handler send --not-before 2026-12-24T09:00:00Z 8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b
`

func cmdSend(ctx context.Context, args []string, e *env) int {
	f := newFlags("send", "[--type TYPE] [--reason TEXT] [--requested-by WHO] [--correlation-id ID] [--not-before TIME] [--wait D] ID... | -", sendHelp, e)
	typ := f.String("type", "", "expected object type (user, application, servicePrincipal…)")
	reason := f.String("reason", "", "audit: why (e.g. leaver)")
	requestedBy := f.String("requested-by", "", "audit: who or what asks")
	correlationID := f.String("correlation-id", "", "audit: a ticket or flow id; also the message's CorrelationId")
	notBefore := f.String("not-before", "", "RFC 3339 time before which the purge must not happen")
	if code := f.parse(args, e.stdout); code >= 0 {
		return code
	}
	ids, code := readIDs(f.Args(), os.Stdin, e.stderr, "send")
	if code >= 0 {
		return code
	}
	expected, code := parseTypeFlag("send", *typ, e.stderr)
	if code >= 0 {
		return code
	}
	if *notBefore != "" {
		if _, err := time.Parse(time.RFC3339, *notBefore); err != nil {
			fmt.Fprintf(e.stderr, "handler send: --not-before %q is not an RFC 3339 time such as 2026-12-24T09:00:00Z\n", *notBefore)
			return exitUsage
		}
	}
	a, code := openApp(e, true)
	if a == nil {
		return code
	}
	defer a.Close()
	cfg := a.cfg
	r := reach{cmd: "send", wait: *f.wait, stderr: e.stderr}
	sb := a.serviceBusTarget()

	type sentMsg struct {
		ObjectID  string `json:"objectId"`
		MessageID string `json:"messageId"`
		Queue     string `json:"queue"`
	}
	sent := []sentMsg{}
	stop := func(err error) int {
		fmt.Fprintf(e.stderr, "handler send: %v (sent %d of %d)\n", err, len(sent), len(ids))
		if f.json() {
			writeJSON(e.stdout, sent)
		}
		return exitCode(ctx, err)
	}
	if err := r.dial(ctx, sb); err != nil {
		return stop(err)
	}
	for i, id := range ids {
		req := map[string]string{"id": id.String()}
		for k, v := range map[string]string{"type": string(expected), "reason": *reason, "requestedBy": *requestedBy, "correlationId": *correlationID, "notBefore": *notBefore} {
			if v = strings.TrimSpace(v); v != "" {
				req[k] = v
			}
		}
		body, _ := json.Marshal(req)
		msg := message.NewRequest(body, *correlationID)
		if err := r.do(ctx, sb, func(ctx context.Context) error { return a.bus.Send(ctx, cfg.Queue, msg) }); err != nil {
			return stop(fmt.Errorf("%s: %w", id, err))
		}
		sent = append(sent, sentMsg{id.String(), msg.MessageID, cfg.Queue})
		if !f.json() {
			fmt.Fprintf(e.stdout, "sent %s to %s (message %s)\n", id, cfg.Queue, msg.MessageID)
		}
		if len(ids) > 20 && (i+1)%20 == 0 {
			fmt.Fprintf(e.stderr, "send: %d/%d sent\n", i+1, len(ids))
		}
	}
	if f.json() {
		writeJSON(e.stdout, sent)
	}
	return exitOK
}
