package chaos

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/standin/graphsim"
)

// Evidence is everything the ledger is drawn from, gathered at the end of a run from the stand-ins
// themselves — what is on the queues, what Graph holds and was asked, what the host settled — rather than
// from what the handler says it did.
type Evidence struct {
	Requests []Request
	// Completions are the invocations the host completed (the handler answered 2xx and the message was
	// removed), with the outcome of the handler's log line.
	Completions []Completion
	// FailureQueue, DeadLettered and Left are the messages on the failure queue, in the trigger queue's
	// $DeadLetterQueue and still in the trigger queue (active, locked or scheduled).
	FailureQueue, DeadLettered, Left []Copy
	// Purged are the objects Graph purged.
	Purged map[string]bool
	// Graph is the Graph simulator's request log.
	Graph []graphsim.Request
	// Outputs are every output of the run (handler stdout and stderr, host log, stand-in logs), searched
	// for a token (anything shaped like a JWT) and for Secrets, taken literally.
	Outputs []Output
	Secrets []string
}

// jwtShape matches the start of a compact JWT: a base64url JSON header, a dot, a base64url JSON payload, a
// dot. Searching for "eyJ" alone is not enough to tell a token: random AMQP link names contain it too.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`)

// Completion is one completed invocation.
type Completion struct {
	DeliveredID, OriginalID string
	Outcome, Reason         string
}

// Copy is a message found on a queue.
type Copy struct {
	MessageID, OriginalID string
	Reason                string
	SequenceNumber        int64
}

// Output is one output of the run, by name.
type Output struct {
	Name string
	Data []byte
}

// Violation is one broken rule of the ledger.
type Violation struct {
	Rule    string `json:"rule"`
	Request string `json:"request,omitempty"`
	Detail  string `json:"detail"`
}

// Ledger rules, as violations name them.
const (
	RuleOnePlace   = "one-terminal-place"
	RuleRightPlace = "right-place"
	RulePurged     = "every-purgeable-purged"
	RuleNoCall     = "no-call-for-protected-or-invalid"
	RuleRetryAfter = "no-retry-before-retry-after"
	RuleSecrets    = "no-secret-in-output"
	RuleUnknown    = "no-message-from-nowhere"
)

// Terminal places.
const (
	PlacePurged       = "purged"
	PlaceAbsent       = "absent"
	PlaceDeadLettered = "dead-lettered"
	placeFailure      = "failure:" // + reason
	PlaceNone         = "none"
	PlaceSeveral      = "several"
)

// Ledger is the account of a run.
type Ledger struct {
	// Places is each original request's terminal place (PlaceNone or PlaceSeveral when it has not exactly one).
	Places map[string]string `json:"-"`
	// ByPlace counts requests per terminal place; ByKind per kind and place.
	ByPlace    map[string]int          `json:"byPlace"`
	ByKind     map[Kind]map[string]int `json:"byKind"`
	RetryAfter RetryAfterAudit         `json:"retryAfter"`
	Violations []Violation             `json:"violations"`
}

// RetryAfterAudit says how the Retry-After rule was checked.
type RetryAfterAudit struct {
	// Answers counts Graph answers that carried Retry-After; Retried how many of them were followed by the
	// same call on the same object (the retries checked).
	Answers int `json:"answers"`
	Retried int `json:"retried"`
	// MinMargin is the shortest time by which a checked retry came after its Retry-After had passed.
	MinMargin Seconds `json:"minMarginSeconds"`
}

// expected lists the places each kind may end in. The $DeadLetterQueue is where Service Bus puts a message
// the handler could not secure MaxDeliveryCount times (the failure queue missing): a terminal place, but
// never for a purgeable object, which must be purged.
var expected = map[Kind][]string{
	Purgeable:    {PlacePurged},
	NeverDeleted: {PlaceAbsent, PlaceDeadLettered},
	Invalid:      {placeFailure + "InvalidMessage", PlaceDeadLettered},
	Protected:    {placeFailure + "Protected", PlaceDeadLettered},
}

// Audit draws up the ledger.
func Audit(ev Evidence) Ledger {
	l := Ledger{Places: map[string]string{}, ByPlace: map[string]int{}, ByKind: map[Kind]map[string]int{}}
	var v []Violation
	add := func(rule, req, format string, args ...any) {
		v = append(v, Violation{Rule: rule, Request: req, Detail: fmt.Sprintf(format, args...)})
	}
	byID := map[string]*Request{}
	for i := range ev.Requests {
		byID[ev.Requests[i].MessageID] = &ev.Requests[i]
	}
	places := map[string]map[string]bool{}
	failedAnswers := map[string]string{}
	place := func(orig, p, source string) {
		if byID[orig] == nil {
			add(RuleUnknown, orig, "%s belongs to no request of the run", source)
			return
		}
		if places[orig] == nil {
			places[orig] = map[string]bool{}
		}
		places[orig][p] = true
	}
	for _, c := range ev.Completions {
		switch c.Outcome {
		case "purged", "absent":
			p := PlaceAbsent
			if r := byID[c.OriginalID]; r != nil && r.ObjectID != "" && ev.Purged[r.ObjectID] {
				p = PlacePurged
			}
			place(c.OriginalID, p, "completed delivery "+c.DeliveredID)
		case "failed":
			failedAnswers[c.OriginalID] = c.Reason
		}
	}
	seen := map[string]bool{}
	for _, c := range ev.FailureQueue {
		if seen[c.MessageID] { // copies with the same MessageId count once
			continue
		}
		seen[c.MessageID] = true
		place(c.OriginalID, placeFailure+c.Reason+"#"+c.MessageID, "failure copy "+c.MessageID)
	}
	for _, c := range ev.DeadLettered {
		place(c.OriginalID, PlaceDeadLettered+"#"+strconv.FormatInt(c.SequenceNumber, 10), "dead-lettered message "+c.MessageID)
	}
	left := map[string]int{}
	for _, c := range ev.Left {
		left[c.OriginalID]++
	}

	for _, r := range ev.Requests {
		var ps []string
		for p := range places[r.MessageID] {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		got := PlaceNone
		switch {
		case len(ps) == 1:
			got, _, _ = strings.Cut(ps[0], "#")
		case len(ps) > 1:
			got = PlaceSeveral
			add(RuleOnePlace, r.MessageID, "%s request ended in %d places: %s", r.Kind, len(ps), strings.Join(ps, ", "))
		}
		if n := left[r.MessageID]; n > 0 {
			add(RuleOnePlace, r.MessageID, "%s request still has %d message(s) in the trigger queue", r.Kind, n)
		}
		if got == PlaceNone {
			why := "no completed delivery, no failure copy, nothing dead-lettered"
			if reason, ok := failedAnswers[r.MessageID]; ok {
				why = fmt.Sprintf("the handler answered failed (%s) but no failure copy is on the failure queue", reason)
			}
			add(RuleOnePlace, r.MessageID, "%s request is nowhere: %s", r.Kind, why)
		}
		if got != PlaceNone && got != PlaceSeveral && !contains(expected[r.Kind], got) {
			add(RuleRightPlace, r.MessageID, "%s request ended as %s, want %s", r.Kind, got, strings.Join(expected[r.Kind], " or "))
		}
		l.Places[r.MessageID] = got
		l.ByPlace[got]++
		if l.ByKind[r.Kind] == nil {
			l.ByKind[r.Kind] = map[string]int{}
		}
		l.ByKind[r.Kind][got]++
		if r.Kind == Purgeable && !ev.Purged[r.ObjectID] {
			add(RulePurged, r.MessageID, "object %s is still in the recycle bin", r.ObjectID)
		}
	}

	untouchable := map[string]string{}
	for _, r := range ev.Requests {
		switch r.Kind {
		case Protected:
			untouchable[r.ObjectID] = r.MessageID
		case Invalid:
			for _, b := range r.Bait {
				untouchable[b] = r.MessageID
			}
		}
	}
	for _, g := range ev.Graph {
		if req, ok := untouchable[g.ObjectID]; ok {
			add(RuleNoCall, req, "Graph was asked %s %s (answered %d, request-id %s) for an id of a %s request",
				g.Method, g.ObjectID, g.Status, g.RequestID, byID[req].Kind)
		}
	}
	for id, req := range untouchable {
		if ev.Purged[id] {
			add(RuleNoCall, req, "object %s was purged", id)
		}
	}

	l.RetryAfter, v = auditRetryAfter(ev.Graph, v)

	for _, o := range ev.Outputs {
		if loc := jwtShape.FindIndex(o.Data); loc != nil {
			add(RuleSecrets, "", "%s contains a token (%q…)", o.Name, o.Data[loc[0]:loc[0]+4])
		}
		for _, s := range ev.Secrets {
			if s != "" && bytes.Contains(o.Data, []byte(s)) {
				add(RuleSecrets, "", "%s contains a secret (%q…)", o.Name, s[:min(4, len(s))])
			}
		}
	}
	l.Violations = append([]Violation{}, v...) // [] rather than null in the JSON report
	return l
}

// auditRetryAfter checks that no call was made again sooner than a Retry-After Graph sent for it: after
// an answer with Retry-After to a call on an object, the next call with the same method on the same object
// arrives no sooner than the answer's time plus the Retry-After (a Retry-After answers the call it was sent
// for; a read after a throttled write is another call). Times are the simulator's arrival times, and an
// answer carrying Retry-After is sent as soon as its request arrives.
func auditRetryAfter(log []graphsim.Request, v []Violation) (RetryAfterAudit, []Violation) {
	type key struct{ id, method string }
	calls := map[key][]graphsim.Request{}
	for _, g := range log {
		if g.ObjectID != "" {
			k := key{g.ObjectID, g.Method}
			calls[k] = append(calls[k], g)
		}
	}
	var a RetryAfterAudit
	first := true
	for k, rs := range calls {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Time.Before(rs[j].Time) })
		for i, r := range rs {
			ra, ok := retryAfter(r.RetryAfter, r.Time)
			if !ok {
				continue
			}
			a.Answers++
			if i+1 == len(rs) {
				continue
			}
			a.Retried++
			next := rs[i+1]
			margin := next.Time.Sub(r.Time.Add(ra))
			if first || margin < time.Duration(a.MinMargin) {
				a.MinMargin, first = Seconds(margin), false
			}
			if margin < 0 {
				v = append(v, Violation{Rule: RuleRetryAfter, Detail: fmt.Sprintf(
					"%s %s was answered %d with Retry-After %s at %s (request-id %s) and called again %s later, at %s (request-id %s)",
					k.method, k.id, r.Status, r.RetryAfter, r.Time.Format("15:04:05.000"), r.RequestID,
					next.Time.Sub(r.Time).Round(time.Millisecond), next.Time.Format("15:04:05.000"), next.RequestID)})
			}
		}
	}
	return a, v
}

// retryAfter reads a Retry-After header: seconds (possibly fractional) or an HTTP date.
func retryAfter(h string, at time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(at), 0), true
	}
	return 0, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
