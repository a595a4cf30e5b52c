package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/message"
)

const sendHelp = `
Enqueues one purge request per id on PURGE_QUEUE_NAME, in the message format the function reads
({"id": …, "type": …, "reason": …, "requestedBy": …}). Every id is validated before anything is sent.
IDs may also be given one per line on standard input with "-".

Examples:
  handler send --type user --reason leaver --requested-by hr-flow 8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b
  handler send --not-before 2026-12-24T09:00:00Z 8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b
`

func cmdSend(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f := newFlags("send", "[--type TYPE] [--reason TEXT] [--requested-by WHO] [--correlation-id ID] [--not-before TIME] ID... | -", sendHelp, stderr)
	typ := f.String("type", "", "expected object type (user, application, servicePrincipal…)")
	reason := f.String("reason", "", "audit: why (e.g. leaver)")
	requestedBy := f.String("requested-by", "", "audit: who or what asks")
	correlationID := f.String("correlation-id", "", "audit: a ticket or flow id; also the message's CorrelationId")
	notBefore := f.String("not-before", "", "RFC 3339 time before which the purge must not happen")
	if code := f.parse(args, stdout); code >= 0 {
		return code
	}
	ids, code := readIDs(f.Args(), os.Stdin, stderr, "send")
	if code >= 0 {
		return code
	}
	expected, code := parseTypeFlag("send", *typ, stderr)
	if code >= 0 {
		return code
	}
	if *notBefore != "" {
		if _, err := time.Parse(time.RFC3339, *notBefore); err != nil {
			fmt.Fprintf(stderr, "handler send: --not-before %q is not an RFC 3339 time such as 2026-12-24T09:00:00Z\n", *notBefore)
			return exitUsage
		}
	}
	a, code := openApp(getenv, stderr)
	if a == nil {
		return code
	}
	defer a.Close()
	cfg := a.cfg

	type sentMsg struct {
		ObjectID  string `json:"objectId"`
		MessageID string `json:"messageId"`
		Queue     string `json:"queue"`
	}
	var sent []sentMsg
	for i, id := range ids {
		req := map[string]string{"id": id.String()}
		for k, v := range map[string]string{"type": string(expected), "reason": *reason, "requestedBy": *requestedBy, "correlationId": *correlationID, "notBefore": *notBefore} {
			if v = strings.TrimSpace(v); v != "" {
				req[k] = v
			}
		}
		body, _ := json.Marshal(req)
		msg := message.NewRequest(body, *correlationID)
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := a.bus.Send(sctx, cfg.Queue, msg)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "handler send: %s: %v (sent %d of %d)\n", id, err, len(sent), len(ids))
			if f.json() {
				writeJSON(stdout, sent)
			}
			return exitFailure
		}
		sent = append(sent, sentMsg{id.String(), msg.MessageID, cfg.Queue})
		if !f.json() {
			fmt.Fprintf(stdout, "sent %s to %s (message %s)\n", id, cfg.Queue, msg.MessageID)
		}
		if len(ids) > 20 && (i+1)%20 == 0 {
			fmt.Fprintf(stderr, "send: %d/%d sent\n", i+1, len(ids))
		}
	}
	if f.json() {
		writeJSON(stdout, sent)
	}
	return exitOK
}
