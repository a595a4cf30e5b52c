package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/google/uuid"
)

// Kind is what an original request is, and so where it must end.
type Kind string

const (
	// Purgeable is a deleted user in the recycle bin: it must end purged.
	Purgeable Kind = "purgeable"
	// NeverDeleted names an object Graph does not hold (404 for ever): it must end absent.
	NeverDeleted Kind = "never-deleted"
	// Invalid is a body that is not a purge request: it must end on the failure queue as InvalidMessage
	// (or in the trigger queue's $DeadLetterQueue), with no Graph call for any id it mentions.
	Invalid Kind = "invalid"
	// Protected names an id in PURGE_PROTECTED_IDS: it must end on the failure queue as Protected (or in the
	// $DeadLetterQueue), with no Graph call for it.
	Protected Kind = "protected"
)

// Kinds in the order reports list them.
var Kinds = []Kind{Purgeable, NeverDeleted, Invalid, Protected}

// Request is one original purge request of a run.
type Request struct {
	MessageID string `json:"messageId"`
	Kind      Kind   `json:"kind"`
	// ObjectID is the object the request names (purgeable, never-deleted, protected).
	ObjectID string `json:"objectId,omitempty"`
	// Bait are the ids an invalid body mentions. They are deleted users in the recycle bin, so a call that
	// should never have been made would find them.
	Bait []string `json:"bait,omitempty"`
	Body string   `json:"body"`
}

// planRequests draws n requests — 60 % purgeable, 15 % never deleted, 12.5 % invalid, 12.5 % protected — in
// a random order, all from rng.
func planRequests(n int, rng *rand.Rand) []Request {
	counts := map[Kind]int{NeverDeleted: n * 15 / 100, Invalid: n * 125 / 1000, Protected: n * 125 / 1000}
	counts[Purgeable] = n - counts[NeverDeleted] - counts[Invalid] - counts[Protected]
	var kinds []Kind
	for _, k := range Kinds {
		for range counts[k] {
			kinds = append(kinds, k)
		}
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	id := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		return uuid.UUID(b).String()
	}
	reqs := make([]Request, n)
	for i, k := range kinds {
		r := Request{MessageID: fmt.Sprintf("chaos-%05d", i+1), Kind: k}
		switch k {
		case Purgeable, NeverDeleted, Protected:
			r.ObjectID = id()
			r.Body = requestBody(r.ObjectID, i, rng)
		case Invalid:
			r.Body, r.Bait = invalidBody(i, id)
		}
		reqs[i] = r
	}
	return reqs
}

// requestBody is a valid request for id in one of the forms callers send: JSON with a type and audit fields,
// JSON with the objectId alias, the bare id, the id quoted.
func requestBody(id string, i int, rng *rand.Rand) string {
	switch rng.IntN(4) {
	case 0:
		return id
	case 1:
		return `"` + id + `"`
	case 2:
		return fmt.Sprintf(`{"objectId":%q,"reason":"leaver","requestedBy":"chaos"}`, id)
	}
	b, _ := json.Marshal(map[string]string{"id": id, "type": "user", "reason": "leaver", "requestedBy": "chaos", "correlationId": fmt.Sprintf("CHAOS-%d", i+1)})
	return string(b)
}

// invalidBody is a body the handler must refuse before any network call, and the ids it mentions.
func invalidBody(i int, id func() string) (string, []string) {
	a, b := id(), id()
	switch i % 8 {
	case 0:
		return "not an object id", nil
	case 1:
		return "leaver@contoso.example", nil
	case 2:
		return "../users/" + a, []string{a}
	case 3:
		return fmt.Sprintf(`[%q,%q]`, a, b), []string{a, b}
	case 4:
		return `{"id":"00000000-0000-0000-0000-000000000000"}`, nil
	case 5:
		return fmt.Sprintf(`{"id":%q,"type":"printer"}`, a), []string{a}
	case 6:
		return fmt.Sprintf(`{"id":%q,"objectId":%q}`, a, b), []string{a, b}
	}
	return fmt.Sprintf(`{"id":%q,"notBefore":"after lunch"}`, a), []string{a}
}

// FaultKind names a fault the run injects.
type FaultKind string

const (
	// GraphErrors answers every Graph call with 500, 502, 503 and 504 in turn, a second each.
	GraphErrors FaultKind = "graph-5xx-burst"
	// GraphThrottle is a throttling storm: for its first half every Graph call is answered 429 with
	// Retry-After: 2, for its second half every purge (the write limit: reads get through).
	GraphThrottle FaultKind = "graph-429-storm"
	// GraphHang holds the answer to the next Graph call for Delay (up to 45 s); the request takes effect.
	GraphHang FaultKind = "graph-hang"
	// GraphSilent makes the next Graph call never answer: only the handler's deadline ends it.
	GraphSilent FaultKind = "graph-never-answers"
	// IdentityDown makes the managed-identity endpoint fail every token request from a kill on (a new handler
	// process needs a token) until outageLength after it refused the first one.
	IdentityDown FaultKind = "identity-down"
	// FailureQueueUnreachable: nothing sent to the failure queue is stored or answered (sends time out).
	FailureQueueUnreachable FaultKind = "failure-queue-unreachable"
	// FailureQueueMissing: the failure queue does not exist (sends answered "entity not found").
	FailureQueueMissing FaultKind = "failure-queue-missing"
	// Kill SIGKILLs the handler at a moment of the schedule.
	Kill FaultKind = "kill"
	// KillAfterFailureCopy SIGKILLs the handler once a failure copy it sent is stored on the failure queue and
	// before it heard so (the emulator holds the acknowledgement), so before it answered the host.
	KillAfterFailureCopy FaultKind = "kill-after-failure-copy"
	// KillAfterRetryCopy does the same with a scheduled retry copy on the trigger queue.
	KillAfterRetryCopy FaultKind = "kill-after-retry-copy"
	// KillInStorm SIGKILLs the handler inside the 429 storm, while its invocations wait out Retry-After:
	// the restarted handler must not call Graph again before those Retry-After have passed.
	KillInStorm FaultKind = "kill-in-storm"
)

// Fault is one entry of the schedule.
type Fault struct {
	Kind FaultKind `json:"kind"`
	// At is when it starts, from the first request sent; For how long a window lasts (0 for a point).
	At  time.Duration `json:"-"`
	For time.Duration `json:"-"`
	// Delay of a hang.
	Delay time.Duration `json:"-"`
	// Statuses of a 5xx burst, one a second.
	Statuses []int `json:"statuses,omitempty"`
}

// Fault windows and their spacing. The 5-second windows are the ones the issue names.
const (
	burstStep         = time.Second
	stormLength       = 6 * time.Second
	outageLength      = 5 * time.Second
	hangMax           = 45 * time.Second
	silentDelay       = 24 * time.Hour // ends only when the client goes away
	killSpacing       = 3 * time.Second
	afterCopyPatience = 4 * time.Second // how long a kill after a copy waits for one
	// stormKillAfter is when the kill in the storm comes, from the storm's start: just after the first 429s,
	// while the invocations they answered wait out their Retry-After (later in the storm it would find them
	// already deferred: with PURGE_INVOCATION_TIMEOUT=5s their Graph calls get 2 s).
	stormKillAfter = 400 * time.Millisecond
	// slotsHeld is how long after an unreachable failure queue is back its sends still hold their invocations:
	// until their 5 s deadline.
	slotsHeld = 5 * time.Second
	// identityPatience bounds how long the identity outage waits for the first token request it refuses: it
	// lasts outageLength from then, so that it always meets a handler that needs a token.
	identityPatience = 15 * time.Second
)

// lane is a set of faults that must not overlap one another: Graph's faults, the failure queue's, the kills.
type lane int

const (
	laneGraph lane = iota
	laneQueue
	laneKill
)

func (f Fault) lane() lane {
	switch f.Kind {
	case FailureQueueUnreachable, FailureQueueMissing:
		return laneQueue
	case Kill, KillAfterFailureCopy, KillAfterRetryCopy, KillInStorm, IdentityDown:
		return laneKill
	}
	return laneGraph
}

// span is the time a fault occupies in its lane: its window, or the time a kill needs.
func (f Fault) span() time.Duration {
	switch f.Kind {
	case Kill, KillInStorm:
		return killSpacing
	case KillAfterFailureCopy, KillAfterRetryCopy:
		return afterCopyPatience
	case GraphHang, GraphSilent:
		return time.Second
	}
	return f.For
}

// Mix says how many faults of each kind a schedule holds.
type Mix struct {
	Bursts, Hangs, Silent, Kills int
}

// DefaultMix is the full run's: three 5xx bursts, six hangs, two calls that never answer, six kills (and
// the kill in the storm, which every schedule has).
var DefaultMix = Mix{Bursts: 3, Hangs: 6, Silent: 2, Kills: 6}

// ShortMix is the short run's (inside make test): one of each fault, three kills (one plain, with the
// identity outage, one after a failure copy, one after a retry copy) and the kill in the storm.
var ShortMix = Mix{Bursts: 1, Hangs: 1, Silent: 1, Kills: 3}

// planFaults places the faults of mix in [lead, d) at random, from rng: no two of a lane overlap, no kill
// after a failure copy during a failure-queue outage, and the identity outage follows a plain kill. Kills
// are a third after failure copies, a third after retry copies, the rest (at least one, carrying the
// identity outage) at a plain moment; one more kill lands inside the 429 storm.
func planFaults(d time.Duration, mix Mix, rng *rand.Rand) ([]Fault, error) {
	const lead = 2 * time.Second
	// The most constrained first: the storm and its kill, the failure-queue outages, the kills; then the rest.
	faults := []Fault{{Kind: GraphThrottle, For: stormLength}, {Kind: KillInStorm},
		{Kind: FailureQueueUnreachable, For: outageLength}, {Kind: FailureQueueMissing, For: outageLength}}
	afterFailure := (mix.Kills + 2) / 3
	afterRetry := (mix.Kills + 1) / 3
	plain := max(1, mix.Kills-afterFailure-afterRetry)
	// The plain kill carrying the identity outage is one fault spanning both.
	faults = append(faults, Fault{Kind: IdentityDown, For: outageLength})
	for range afterFailure {
		faults = append(faults, Fault{Kind: KillAfterFailureCopy})
	}
	for range afterRetry {
		faults = append(faults, Fault{Kind: KillAfterRetryCopy})
	}
	for range plain - 1 {
		faults = append(faults, Fault{Kind: Kill})
	}
	for range mix.Bursts {
		st := []int{500, 502, 503, 504}
		rng.Shuffle(len(st), func(i, j int) { st[i], st[j] = st[j], st[i] })
		faults = append(faults, Fault{Kind: GraphErrors, For: time.Duration(len(st)) * burstStep, Statuses: st})
	}
	for range mix.Hangs {
		faults = append(faults, Fault{Kind: GraphHang, Delay: time.Duration(5+rng.IntN(41)) * time.Second})
	}
	for range mix.Silent {
		faults = append(faults, Fault{Kind: GraphSilent, Delay: silentDelay})
	}

	// Random placement, fault by fault (the most constrained first); a draw that leaves no room is drawn again.
	for range 2000 {
		if placed, ok := place(faults, lead, d, rng); ok {
			sort.SliceStable(placed, func(i, j int) bool { return placed[i].At < placed[j].At })
			return placed, nil
		}
	}
	return nil, fmt.Errorf("chaos: no room for every fault in %s; make the run longer or the mix smaller", d)
}

// place draws a start for each fault in [lead, d), or reports that some fault found no room.
func place(faults []Fault, lead, d time.Duration, rng *rand.Rand) ([]Fault, bool) {
	var placed []Fault
	for _, f := range faults {
		hi := d - f.span()
		if hi <= lead {
			return nil, false
		}
		ok := false
		for range 200 {
			f.At = lead + time.Duration(rng.Int64N(int64(hi-lead)))
			if f.Kind == KillInStorm {
				f.At = stormOf(placed).At + stormKillAfter
			}
			if fits(f, placed) {
				ok = true
				break
			}
		}
		if !ok {
			return nil, false
		}
		placed = append(placed, f)
	}
	return placed, true
}

// stormOf returns the 429 storm among placed (it is placed first).
func stormOf(placed []Fault) Fault {
	for _, p := range placed {
		if p.Kind == GraphThrottle {
			return p
		}
	}
	panic("chaos: the kill in the storm is placed before the storm")
}

// fits reports whether f can go where it is among placed.
func fits(f Fault, placed []Fault) bool {
	const gap = time.Second
	overlap := func(a0, a1, b0, b1 time.Duration) bool { return a0 < b1 && b0 < a1 }
	for _, p := range placed {
		if p.lane() == f.lane() && overlap(f.At-gap, f.At+f.span()+gap, p.At, p.At+p.span()) {
			return false
		}
		if f.Kind == KillAfterFailureCopy && p.lane() == laneQueue && overlap(f.At, f.At+f.span(), p.At, p.At+p.For+time.Second) {
			return false
		}
		if p.Kind == KillAfterFailureCopy && f.lane() == laneQueue && overlap(p.At, p.At+p.span(), f.At, f.At+f.For+time.Second) {
			return false
		}
		// While the identity endpoint is down the new handler makes no Graph call and its invocations hold
		// every slot waiting for a token until their deadline, and while the failure queue is unreachable its
		// sends hold every slot until their deadline: a Graph outage, a failure-queue outage during the
		// identity outage, or a kill waiting for a copy, would then hit nothing.
		outage := func(x Fault) bool { return x.Kind == GraphErrors || x.Kind == GraphThrottle }
		notWithIdentity := func(x Fault) bool { return outage(x) || x.lane() == laneQueue }
		if (f.Kind == IdentityDown && notWithIdentity(p) || notWithIdentity(f) && p.Kind == IdentityDown) && overlap(f.At-gap, f.At+f.span()+gap, p.At, p.At+p.span()) {
			return false
		}
		afterCopy := func(x Fault) bool { return x.Kind == KillAfterFailureCopy || x.Kind == KillAfterRetryCopy }
		needsTraffic := func(x Fault) bool { return outage(x) || afterCopy(x) }
		// A Graph outage slows every invocation down to its deadline: copies come seldom then.
		if (afterCopy(f) && p.Kind == GraphErrors || f.Kind == GraphErrors && afterCopy(p)) && overlap(f.At-gap, f.At+f.span()+gap, p.At, p.At+p.span()) {
			return false
		}
		for _, pair := range [][2]Fault{{f, p}, {p, f}} {
			if pair[0].Kind == FailureQueueUnreachable && needsTraffic(pair[1]) &&
				overlap(pair[0].At-gap, pair[0].At+pair[0].For+slotsHeld, pair[1].At, pair[1].At+pair[1].span()) {
				return false
			}
		}
	}
	return true
}
