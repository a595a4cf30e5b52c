package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/sbemu"
)

// Seconds is a duration that reads as seconds in JSON.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', 3, 64)), nil
}

func (s Seconds) String() string { return fmt.Sprintf("%.1fs", time.Duration(s).Seconds()) }

// Report is what a run found: the counts, the faults and how each was got through, the ledger.
type Report struct {
	Seed     uint64  `json:"seed"`
	Requests int     `json:"requests"`
	Duration Seconds `json:"durationSeconds"`
	Elapsed  Seconds `json:"elapsedSeconds"`
	LogDir   string  `json:"logDir"`

	Kinds  map[Kind]int `json:"kinds"`
	Ledger Ledger       `json:"ledger"`

	// Deliveries are the host's invocations, by how they ended (success, connection-error, http-status…).
	Deliveries         int            `json:"deliveries"`
	DeliveriesByResult map[string]int `json:"deliveriesByResult"`
	Completed          int            `json:"completed"`
	Abandoned          int            `json:"abandoned"`
	Copies             CopyCounts     `json:"copies"`

	Kills          []KillRecord  `json:"kills"`
	KillsAfterCopy int           `json:"killsAfterCopy"`
	Faults         []FaultReport `json:"faults"`
	// Shortfalls are scheduled faults that never hit anything: the run did not prove what it should have.
	Shortfalls []string `json:"shortfalls"`

	HostInstances int `json:"hostInstances"`
	HandlerStarts int `json:"handlerStarts"`
	Timeouts      int `json:"functionTimeouts"`
	Hangs         int `json:"hungAnswers"`
}

// CopyCounts count the copies the handler sent, as Service Bus saw them.
type CopyCounts struct {
	// RetryStored are retry copies stored on the trigger queue, RetryDuplicates those dropped by duplicate
	// detection (the same copy sent again after a crash or an abandon); the same for failure copies.
	RetryStored       int `json:"retryStored"`
	RetryDuplicates   int `json:"retryDuplicatesDropped"`
	FailureStored     int `json:"failureStored"`
	FailureDuplicates int `json:"failureDuplicatesDropped"`
	// DeadLettered are messages Service Bus moved to the trigger queue's $DeadLetterQueue.
	DeadLettered int `json:"deadLettered"`
}

// FaultReport is one fault of the schedule and what it did.
type FaultReport struct {
	Kind     FaultKind `json:"kind"`
	At       Seconds   `json:"at"`
	For      Seconds   `json:"for"`
	Statuses []int     `json:"statuses,omitempty"`
	Delay    Seconds   `json:"delay,omitempty"`
	// Hits counts what the fault actually did: answers injected, token requests failed, sends refused or
	// left unanswered, the hung call, the kill.
	Hits      int            `json:"hits"`
	HitDetail map[string]int `json:"hitDetail,omitempty"`
	// Handled counts the handler's invocation outcomes the fault led to; Through says it in words.
	Handled map[string]int `json:"handled,omitempty"`
	Through string         `json:"through"`
}

// OK reports whether the run proved its point: no violation, every fault hit.
func (r *Report) OK() bool { return len(r.Ledger.Violations) == 0 && len(r.Shortfalls) == 0 }

// report gathers the evidence and draws up the ledger and the report.
func (r *runner) report(ctx context.Context, client *azservicebus.Client, reqs []Request, faults []Fault, files logFiles, logDir string) (*Report, error) {
	trigger, failedQ := r.settings["PURGE_QUEUE_NAME"], r.settings["PURGE_FAILED_QUEUE_NAME"]
	ev := Evidence{Requests: reqs, Purged: map[string]bool{}}
	for _, q := range []struct {
		name string
		dlq  bool
		into *[]Copy
	}{{failedQ, false, &ev.FailureQueue}, {trigger, true, &ev.DeadLettered}, {trigger, false, &ev.Left}} {
		msgs, err := peekAll(ctx, client, q.name, q.dlq)
		if err != nil {
			return nil, fmt.Errorf("chaos: reading %s: %w", q.name, err)
		}
		for _, m := range msgs {
			*q.into = append(*q.into, copyOf(m))
		}
	}
	invs := r.invs.all()
	for _, inv := range invs {
		if inv.Outcome != funchost.OutcomeSuccess || inv.Settlement != funchost.SettlementCompleted || inv.SettleErr != nil || len(inv.Logs) == 0 {
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(inv.Logs[len(inv.Logs)-1]), &l) != nil {
			continue
		}
		ev.Completions = append(ev.Completions, Completion{DeliveredID: inv.MessageID, OriginalID: l.OriginalMessageID, Outcome: l.Outcome, Reason: l.DeadLetterReason})
	}
	for _, q := range reqs {
		for _, id := range append([]string{q.ObjectID}, q.Bait...) {
			if id != "" && r.stack.Graph.Purged(id) {
				ev.Purged[id] = true
			}
		}
	}
	ev.Graph = r.stack.Graph.Requests()
	for _, name := range sortedKeys(files) {
		_ = files[name].Sync()
		b, err := os.ReadFile(files[name].Name())
		if err != nil {
			return nil, err
		}
		ev.Outputs = append(ev.Outputs, Output{Name: name, Data: b})
	}
	ev.Secrets = []string{"SharedAccessKey=", sbemu.DefaultKey, r.settings["IDENTITY_HEADER"], r.settings["ServiceBusConnection"]}

	rep := &Report{Seed: r.opts.Seed, Requests: len(reqs), Duration: Seconds(r.opts.Duration), Elapsed: Seconds(time.Since(r.start)), LogDir: logDir,
		Kinds: map[Kind]int{}, Ledger: Audit(ev), DeliveriesByResult: map[string]int{}}
	for _, q := range reqs {
		rep.Kinds[q.Kind]++
	}
	rep.Deliveries = len(invs)
	for _, inv := range invs {
		rep.DeliveriesByResult[string(inv.Outcome)]++
		switch inv.Settlement {
		case funchost.SettlementCompleted:
			rep.Completed++
		case funchost.SettlementAbandoned:
			rep.Abandoned++
		}
	}
	original := map[string]bool{}
	for _, q := range reqs {
		original[q.MessageID] = true
	}
	events := r.bus.all()
	for _, e := range events {
		switch {
		case strings.EqualFold(e.Queue, trigger) && (e.Event == "enqueue" || e.Event == "scheduled") && !original[e.MessageID]:
			rep.Copies.RetryStored++
		case strings.EqualFold(e.Queue, trigger) && e.Event == "duplicate-dropped":
			rep.Copies.RetryDuplicates++
		case strings.EqualFold(e.Queue, failedQ) && e.Event == "enqueue":
			rep.Copies.FailureStored++
		case strings.EqualFold(e.Queue, failedQ) && e.Event == "duplicate-dropped":
			rep.Copies.FailureDuplicates++
		case strings.EqualFold(e.Queue, trigger) && e.Event == "deadletter":
			rep.Copies.DeadLettered++
		}
	}
	r.mu.Lock()
	kills := append([]KillRecord(nil), r.kills...)
	rep.HostInstances = r.instances
	for _, s := range r.stats {
		rep.HandlerStarts += s.HandlerStarts
		rep.Timeouts += s.Timeouts
		rep.Hangs += s.Hangs
	}
	r.mu.Unlock()
	for i := range kills {
		for _, inv := range invs {
			if inv.HandlerPID == kills[i].PID && inv.Outcome == funchost.OutcomeConnection {
				kills[i].Broken++
			}
		}
		if kills[i].MessageID != "" {
			rep.KillsAfterCopy++
			for _, e := range events {
				if e.Event == "duplicate-dropped" && e.MessageID == kills[i].MessageID {
					kills[i].SentAgain = true
				}
			}
		}
	}
	rep.Kills = kills
	rep.Faults, rep.Shortfalls = r.faultReports(faults, kills, events)
	rep.Shortfalls = append([]string{}, rep.Shortfalls...)
	return rep, nil
}

// faultReports says what each fault did and how the handler got through it.
func (r *runner) faultReports(faults []Fault, kills []KillRecord, events []busEvent) ([]FaultReport, []string) {
	graph := r.stack.Graph.Requests()
	lines := r.handler.all()
	tokens := r.tokens.all()
	failedQ := r.settings["PURGE_FAILED_QUEUE_NAME"]
	const slack = 6 * time.Second // an invocation started in a window ends within its 5 s deadline
	in := func(t time.Time, f Fault, extra time.Duration) bool {
		d := t.Sub(r.t0)
		return d >= f.At-time.Second && d <= f.At+f.For+extra
	}
	outcomes := func(pred func(logLine) bool) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			if pred(l) {
				key := l.Outcome
				if l.Error != "" {
					key = "not secured (answered 500)"
				}
				m[key]++
			}
		}
		return m
	}
	claimed := map[int]bool{}
	usedKill := map[int]bool{}
	var out []FaultReport
	var short []string
	for _, f := range faults {
		fr := FaultReport{Kind: f.Kind, At: Seconds(f.At), For: Seconds(f.For), Statuses: f.Statuses, HitDetail: map[string]int{}}
		switch f.Kind {
		case GraphThrottle, GraphErrors:
			for _, g := range graph {
				if g.Injected && g.Status >= 429 && in(g.Time, f, 0) {
					fr.Hits++
					fr.HitDetail[fmt.Sprintf("%s %d", g.Method, g.Status)]++
				}
			}
			fr.Handled = outcomes(func(l logLine) bool {
				return in(l.Time, f, slack) && (l.GraphStatus == 429) == (f.Kind == GraphThrottle) && l.GraphStatus >= 429
			})
			if f.Kind == GraphThrottle {
				fr.Through = "a throttled call was waited for in-process until the invocation deadline, then secured as a retry copy scheduled no sooner than its Retry-After, the 429 and its request-id in the log line; the process paused its reads or writes meanwhile, deferring the other calls past the pause; all were purged after the storm"
			} else {
				fr.Through = "each 5xx became a retry copy after the backoff (or was retried in-process), and the retries were purged after the burst"
			}
		case GraphHang, GraphSilent:
			fr.Delay = Seconds(f.Delay)
			for i, g := range graph {
				if !claimed[i] && g.DelayMs == f.Delay.Milliseconds() && g.Time.Sub(r.t0) >= f.At-time.Second {
					claimed[i] = true
					fr.Hits = 1
					fr.HitDetail[g.Method+" "+g.ObjectID] = 1
					fr.Handled = outcomes(func(l logLine) bool { return l.ObjectID == g.ObjectID && !l.Time.Before(g.Time.Truncate(time.Second)) })
					break
				}
			}
			fr.Through = "the invocation deadline ended the call; the request was secured with a retry copy and its later attempts ended it (absent after the grace when a DELETE had taken effect unseen)"
		case IdentityDown:
			for _, t := range tokens {
				if t.Status != 200 && in(t.Time, f, 0) {
					fr.Hits++
					fr.HitDetail[strconv.Itoa(t.Status)]++
				}
			}
			fr.Handled = outcomes(func(l logLine) bool {
				return in(l.Time, f, slack) && l.Outcome == "retry-scheduled" && l.GraphStatus == 0 && !strings.HasPrefix(l.Description, "Deferred")
			})
			fr.Through = "the new handler process could not get a token in time: each Graph call failed without an answer (logged as no token, or as not finished within the deadline when the credential's own retries outlived it) and became a retry copy, purged once the endpoint was back"
		case FailureQueueUnreachable, FailureQueueMissing:
			for _, e := range events {
				if !in(e.TS, f, 0) {
					continue
				}
				switch {
				case e.Event == "unanswered" && strings.EqualFold(e.Queue, failedQ):
					fr.Hits++
					fr.HitDetail["send unanswered"]++
				case e.Event == "cbs" && e.Status == 404 && strings.HasSuffix(strings.ToLower(e.Audience), "/"+strings.ToLower(failedQ)):
					fr.Hits++
					fr.HitDetail["put-token 404"]++
				case e.Event == "attach-refused" && strings.EqualFold(e.Target, failedQ):
					fr.Hits++
					fr.HitDetail["attach refused"]++
				}
			}
			fr.Handled = outcomes(func(l logLine) bool { return in(l.Time, f, slack) && l.DeadLetterReason != "" })
			fr.Through = "a failure copy that could not be sent was answered 500: the host abandoned the message and Service Bus redelivered it, until the copy was sent after the outage or, after MaxDeliveryCount deliveries, the message sat in the trigger queue's $DeadLetterQueue"
		case Kill, KillAfterFailureCopy, KillAfterRetryCopy, KillInStorm:
		}
		if f.lane() == laneKill {
			var matched *KillRecord
			for i, k := range kills {
				if !usedKill[i] && k.Kind == f.Kind && time.Duration(k.At) >= f.At-time.Second {
					usedKill[i] = true
					matched = &kills[i]
					fr.HitDetail["killed"] = 1
					fr.HitDetail["invocations cut short"] = k.Broken
					if fr.Kind != IdentityDown {
						fr.Hits = 1
					}
					break
				}
			}
			switch fr.Kind {
			case Kill:
				fr.Through = "the invocations cut short were abandoned by the host and redelivered to the restarted handler, which decided them again"
			case KillInStorm:
				fr.Through = "the invocations waiting out a Retry-After were abandoned by the host and redelivered at once; the restarted handler started paused until the Retry-After its predecessor had kept in its state file, so it called Graph no sooner, deferring what could not wait"
			case KillAfterFailureCopy, KillAfterRetryCopy:
				fr.Through = "the copy was already on Service Bus; the host abandoned the cut invocation and the restarted handler decided the redelivered message again"
				if k := matched; k != nil && k.SentAgain {
					fr.Through += ", sending the same copy (same MessageId), which duplicate detection dropped"
				} else if k != nil {
					fr.Through += " without a second copy (its decision needed none), so the first copy ran its course"
				}
			}
			if fr.HitDetail["killed"] == 0 {
				short = append(short, fmt.Sprintf("%s at %s: no kill", f.Kind, Seconds(f.At)))
			}
		}
		if fr.Hits == 0 {
			short = append(short, fmt.Sprintf("%s at %s hit nothing", f.Kind, Seconds(f.At)))
		}
		if len(fr.HitDetail) == 0 {
			fr.HitDetail = nil
		}
		out = append(out, fr)
	}
	return out, short
}

// Print writes the report for a person: the counts, the faults, every violation.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nentra-purge chaos run: seed %d, %d requests over %s, finished in %s (logs in %s)\n\n",
		r.Seed, r.Requests, r.Duration, r.Elapsed, r.LogDir)
	places := []string{PlacePurged, PlaceAbsent, placeFailure + "InvalidMessage", placeFailure + "Protected", PlaceDeadLettered}
	for p := range r.Ledger.ByPlace {
		if !contains(places, p) && p != PlaceNone && p != PlaceSeveral {
			places = append(places, p)
		}
	}
	places = append(places, PlaceNone, PlaceSeveral)
	fmt.Fprintf(w, "%-14s %6s", "REQUESTS", "sent")
	for _, p := range places {
		fmt.Fprintf(w, " %*s", max(len(p), 6), p)
	}
	fmt.Fprintln(w)
	row := func(name string, n int, by map[string]int) {
		fmt.Fprintf(w, "%-14s %6d", name, n)
		for _, p := range places {
			fmt.Fprintf(w, " %*d", max(len(p), 6), by[p])
		}
		fmt.Fprintln(w)
	}
	for _, k := range Kinds {
		row(string(k), r.Kinds[k], r.Ledger.ByKind[k])
	}
	row("all", r.Requests, r.Ledger.ByPlace)

	var results []string
	for _, k := range sortedKeys(r.DeliveriesByResult) {
		results = append(results, fmt.Sprintf("%s %d", k, r.DeliveriesByResult[k]))
	}
	fmt.Fprintf(w, "\nDeliveries   %d (completed %d, abandoned %d; %s)\n", r.Deliveries, r.Completed, r.Abandoned, strings.Join(results, ", "))
	fmt.Fprintf(w, "Copies       retry copies stored %d (duplicates dropped %d); failure copies stored %d (duplicates dropped %d); dead-lettered %d\n",
		r.Copies.RetryStored, r.Copies.RetryDuplicates, r.Copies.FailureStored, r.Copies.FailureDuplicates, r.Copies.DeadLettered)
	broken := 0
	for _, k := range r.Kills {
		broken += k.Broken
	}
	fmt.Fprintf(w, "Kills        %d SIGKILLs (%d after a copy reached Service Bus and before the answer), %d invocations cut short; %d host instances, %d handler processes\n",
		len(r.Kills), r.KillsAfterCopy, broken, r.HostInstances, r.HandlerStarts)
	ra := r.Ledger.RetryAfter
	fmt.Fprintf(w, "Retry-After  %d answers carried one; %d were followed by the same call, the earliest %s after its Retry-After had passed\n",
		ra.Answers, ra.Retried, time.Duration(ra.MinMargin).Round(time.Millisecond))
	fmt.Fprintf(w, "Host         %d function timeouts, %d hung answers\n", r.Timeouts, r.Hangs)

	fmt.Fprintf(w, "\n%-8s %-6s %-27s %5s  %s\n", "AT", "FOR", "FAULT", "HITS", "WHAT HIT, AND HOW THE HANDLER GOT THROUGH")
	for _, f := range r.Faults {
		name := string(f.Kind)
		if len(f.Statuses) > 0 {
			name += fmt.Sprint(f.Statuses)
		}
		if f.Delay > 0 && f.Kind == GraphHang {
			name += " " + f.Delay.String()
		}
		forText := "-"
		if f.For > 0 {
			forText = f.For.String()
		}
		fmt.Fprintf(w, "%-8s %-6s %-27s %5d  %s\n", f.At, forText, name, f.Hits, detail(f.HitDetail))
		if len(f.Handled) > 0 {
			fmt.Fprintf(w, "%-50s handler: %s\n", "", detail(f.Handled))
		}
		fmt.Fprintf(w, "%-50s %s\n", "", f.Through)
	}

	fmt.Fprintln(w)
	if len(r.Shortfalls) > 0 {
		fmt.Fprintf(w, "SHORTFALLS (%d): scheduled faults that hit nothing\n", len(r.Shortfalls))
		for _, s := range r.Shortfalls {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	if len(r.Ledger.Violations) == 0 {
		fmt.Fprintln(w, "VIOLATIONS: none — every request ended in exactly one right place, every purgeable object was purged, no call for a protected or invalid id, no retry before a Retry-After, no secret in any output")
		return
	}
	fmt.Fprintf(w, "VIOLATIONS (%d)\n", len(r.Ledger.Violations))
	for _, v := range r.Ledger.Violations {
		req := ""
		if v.Request != "" {
			req = " " + v.Request
		}
		fmt.Fprintf(w, "  [%s]%s: %s\n", v.Rule, req, v.Detail)
	}
}

func detail(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
