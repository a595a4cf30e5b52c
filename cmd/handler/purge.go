package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/purge"
)

const purgeHelp = `
Purges each object now, from this machine, with the same checks the function runs: protected ids, type
policy, synced users, minimum age, and verification when PURGE_VERIFY is on. Use it to test that the
identity's permissions work before sending real traffic. Nothing is sent to Service Bus (no Service Bus
setting is needed): a request that would have been retried is reported as retry-later, and a 404 is
reported as absent at once. IDs may also be given one per line on standard input with "-".

Exit codes: 0 every object purged, absent or passed in dry run; 1 at least one refused or failed;
3 a temporary error (retry-later) or Graph out of reach; 4 a bad setting.

Examples:
  handler purge --dry-run 8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b
  handler purge --type user --output json 8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b
  cut -d, -f1 leavers.csv | handler purge -
`

// purgeResult is one line of `handler purge` output.
type purgeResult struct {
	ObjectID       string `json:"objectId"`
	ObjectType     string `json:"objectType,omitempty"`
	Outcome        string `json:"outcome"`
	Reason         string `json:"reason,omitempty"`
	Description    string `json:"description"`
	GraphStatus    int    `json:"graphStatus,omitempty"`
	GraphRequestID string `json:"graphRequestId,omitempty"`
}

func cmdPurge(ctx context.Context, args []string, e *env) int {
	stdout, stderr := e.stdout, e.stderr
	f := newFlags("purge", "[--dry-run] [--type TYPE] [--wait D] [--output text|json] ID... | -", purgeHelp, e)
	dryRun := f.Bool("dry-run", false, "decide and report, never delete (as PURGE_DRY_RUN=true)")
	typ := f.String("type", "", "the type you expect (user, application, servicePrincipal…): a mismatch is refused")
	if code := f.parse(args, stdout); code >= 0 {
		return code
	}
	ids, code := readIDs(f.Args(), os.Stdin, stderr, "purge")
	if code >= 0 {
		return code
	}
	expected, code := parseTypeFlag("purge", *typ, stderr)
	if code >= 0 {
		return code
	}
	a, code := openApp(e, false)
	if a == nil {
		return code
	}
	defer a.Close()
	cfg := a.cfg
	r := reach{cmd: "purge", wait: *f.wait, stderr: stderr}
	targets := []target{a.graphTarget()}
	if id, ok := a.identityTarget(); ok {
		targets = append(targets, id)
	}
	for _, t := range targets {
		if err := r.dial(ctx, t); err != nil {
			fmt.Fprintf(stderr, "handler purge: %v; nothing was purged\n", err)
			return exitCode(ctx, err)
		}
	}
	policy := policyOf(cfg)
	policy.DryRun = policy.DryRun || *dryRun
	policy.NotFoundGrace = 0 // an operator asking now wants to know now
	p := a.processor(policy)

	var results []purgeResult
	worst := exitOK
	for i, id := range ids {
		req := purge.Request{ID: id, Type: expected}
		callCtx, cancel := context.WithTimeout(ctx, cfg.InvocationTimeout)
		dec := p.Decide(callCtx, req, purge.Attempt{Number: 1, FirstRequested: time.Now().Add(-time.Hour)})
		cancel()
		r := purgeResult{ObjectID: id.String(), ObjectType: string(dec.ObjectType), Outcome: string(dec.Outcome), Reason: string(dec.Reason),
			Description: dec.DescriptionNotRetried(), GraphStatus: dec.Graph.Status, GraphRequestID: dec.Graph.RequestID}
		switch dec.Outcome {
		case purge.Failed:
			worst = exitFailure
		case purge.RetryScheduled:
			r.Outcome = "retry-later"
			if worst == exitOK {
				worst = exitRetryLater
			}
		}
		results = append(results, r)
		if !f.json() {
			fmt.Fprintf(stdout, "%-36s  %-15s %s\n", r.ObjectID, r.Outcome, r.Description)
		}
		if len(ids) > 20 && (i+1)%20 == 0 {
			fmt.Fprintf(stderr, "purge: %d/%d done\n", i+1, len(ids))
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "purge: interrupted")
			return exitFailure
		}
	}
	if f.json() {
		writeJSON(stdout, results)
	}
	return worst
}

// parseTypeFlag validates a --type value ("" means none given).
func parseTypeFlag(cmd, s string, stderr io.Writer) (directory.Type, int) {
	if s == "" {
		return "", -1
	}
	t, err := directory.ParseType(s)
	if err != nil {
		fmt.Fprintf(stderr, "handler %s: --type: %v\n", cmd, err)
		return "", exitUsage
	}
	return t, -1
}

// readIDs validates every id before anything is done; "-" reads ids from stdin, one per line.
func readIDs(args []string, stdin io.Reader, stderr io.Writer, cmd string) ([]directory.ObjectID, int) {
	var raw []string
	for _, a := range args {
		if a == "-" {
			sc := bufio.NewScanner(stdin)
			for sc.Scan() {
				if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
					raw = append(raw, line)
				}
			}
			continue
		}
		raw = append(raw, a)
	}
	if len(raw) == 0 {
		fmt.Fprintf(stderr, "handler %s: give at least one object id (or - to read them from standard input); see handler help %s\n", cmd, cmd)
		return nil, exitUsage
	}
	ids := make([]directory.ObjectID, 0, len(raw))
	for _, s := range raw {
		id, err := directory.ParseObjectID(s)
		if err != nil {
			fmt.Fprintf(stderr, "handler %s: %v\n", cmd, err)
			return nil, exitUsage
		}
		ids = append(ids, id)
	}
	return ids, -1
}
