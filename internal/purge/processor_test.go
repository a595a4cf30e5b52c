package purge_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	. "github.com/entra-purge/entra-purge/internal/purge"
	"github.com/entra-purge/entra-purge/internal/purge/purgetest"
)

const gid = "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"

type fakeDirectory = purgetest.Directory

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func policy() Policy {
	return Policy{
		AllowedTypes: []directory.Type{directory.User, directory.Application, directory.ServicePrincipal},
		Verify:       true, MaxAttempts: 3, NotFoundGrace: 15 * time.Minute,
		RetryBaseDelay: 30 * time.Second, RetryMaxDelay: 15 * time.Minute,
	}
}

// gerr is the directory error the Graph client returns for an answer with this status.
func gerr(status int, code string, retryAfter time.Duration) error {
	kind := map[int]directory.ErrorKind{400: directory.Rejected, 401: directory.Forbidden, 403: directory.Forbidden, 404: directory.NotFound,
		409: directory.Unavailable, 429: directory.Throttled, 503: directory.Unavailable}[status]
	return purgetest.Err(kind, status, code, retryAfter)
}

func userItem() directory.DeletedObject {
	return directory.DeletedObject{ID: directory.MustParseObjectID(gid), Type: directory.User, RawType: "#microsoft.graph.user", DeletedDateTime: now.Add(-48 * time.Hour)}
}

func TestDecide(t *testing.T) {
	get, del := "GET "+gid, "DELETE "+gid
	tests := []struct {
		name      string
		body      string
		policy    func(*Policy)
		dir       *fakeDirectory
		delivery  func(*Attempt)
		outcome   Outcome
		reason    Reason
		calls     []string
		retryAt   time.Time
		next      int
		deferred  bool
		describes string
	}{
		{name: "purged", body: gid, dir: &fakeDirectory{Object: userItem()}, outcome: Purged, calls: []string{get, del}},
		{name: "invalid message makes no call", body: "alice@contoso.com", outcome: Failed, reason: ReasonInvalidMessage,
			calls: []string{}, describes: "not a purge request"},
		{name: "protected id makes no call", body: strings.ToUpper(gid), dir: &fakeDirectory{Object: userItem()},
			policy:  func(p *Policy) { p.ProtectedIDs = []directory.ObjectID{directory.MustParseObjectID(gid)} },
			outcome: Failed, reason: ReasonProtected, calls: []string{}, describes: "PURGE_PROTECTED_IDS"},
		{name: "notBefore in the future defers without a call", body: `{"id":"` + gid + `","notBefore":"2026-11-29T00:00:00Z"}`,
			outcome: RetryScheduled, retryAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), next: 1, deferred: true, calls: []string{}},
		{name: "notBefore in the past goes ahead", body: `{"id":"` + gid + `","notBefore":"2026-11-27T00:00:00Z"}`,
			dir: &fakeDirectory{Object: userItem()}, outcome: Purged, calls: []string{get, del}},
		{name: "group not allowed, no delete", body: gid, dir: &fakeDirectory{Object: directory.DeletedObject{Type: directory.Group}},
			outcome: Failed, reason: ReasonTypeNotAllowed, calls: []string{get}, describes: "app-only"},
		{name: "administrative unit never purged even if listed", body: gid,
			policy: func(p *Policy) { p.AllowedTypes = append(p.AllowedTypes, directory.AdministrativeUnit) },
			dir:    &fakeDirectory{Object: directory.DeletedObject{Type: directory.AdministrativeUnit}}, outcome: Failed, reason: ReasonTypeNotAllowed, calls: []string{get}},
		{name: "application not in allowed list", body: gid, policy: func(p *Policy) { p.AllowedTypes = []directory.Type{directory.User} },
			dir: &fakeDirectory{Object: directory.DeletedObject{Type: directory.Application}}, outcome: Failed, reason: ReasonTypeNotAllowed, calls: []string{get},
			describes: "PURGE_ALLOWED_TYPES (user)"},
		{name: "type mismatch, no delete", body: `{"id":"` + gid + `","type":"servicePrincipal"}`, dir: &fakeDirectory{Object: userItem()},
			outcome: Failed, reason: ReasonTypeMismatch, calls: []string{get}},
		{name: "unknown type from Graph and none in message", body: gid, dir: &fakeDirectory{Object: directory.DeletedObject{RawType: ""}},
			outcome: Failed, reason: ReasonTypeNotAllowed, calls: []string{get}},
		{name: "unknown type from Graph, message type used", body: `{"id":"` + gid + `","type":"user"}`, dir: &fakeDirectory{Object: directory.DeletedObject{}},
			outcome: Purged, calls: []string{get, del}},
		{name: "synced user refused", body: gid, dir: &fakeDirectory{Object: directory.DeletedObject{Type: directory.User, OnPremisesSyncEnabled: true}},
			outcome: Failed, reason: ReasonSyncedObject, calls: []string{get}},
		{name: "synced user allowed", body: gid, policy: func(p *Policy) { p.AllowSynced = true },
			dir: &fakeDirectory{Object: directory.DeletedObject{Type: directory.User, OnPremisesSyncEnabled: true}}, outcome: Purged, calls: []string{get, del}},
		{name: "too recently deleted defers", body: gid, policy: func(p *Policy) { p.MinDeletedAge = 72 * time.Hour },
			dir: &fakeDirectory{Object: userItem()}, outcome: RetryScheduled, deferred: true, next: 1, calls: []string{get},
			retryAt: now.Add(24 * time.Hour)},
		{name: "dry run writes nothing", body: gid, policy: func(p *Policy) { p.DryRun = true }, dir: &fakeDirectory{Object: userItem()},
			outcome: DryRun, calls: []string{get}},
		{name: "dry run still refuses", body: gid, policy: func(p *Policy) { p.DryRun = true },
			dir: &fakeDirectory{Object: directory.DeletedObject{Type: directory.Group}}, outcome: Failed, reason: ReasonTypeNotAllowed, calls: []string{get}},
		{name: "verify off: no GET", body: `{"id":"` + gid + `","type":"user"}`, policy: func(p *Policy) { p.Verify = false; p.AllowSynced = true },
			outcome: Purged, calls: []string{del}},
		{name: "verify off: message type still checked", body: `{"id":"` + gid + `","type":"group"}`,
			policy: func(p *Policy) { p.Verify = false; p.AllowSynced = true }, outcome: Failed, reason: ReasonTypeNotAllowed, calls: []string{}},
		{name: "GET 404 within grace retries", body: gid, dir: &fakeDirectory{GetErr: gerr(404, "Request_ResourceNotFound", 0)},
			delivery: func(d *Attempt) { d.FirstRequested = now.Add(-time.Minute) },
			outcome:  RetryScheduled, next: 2, retryAt: now.Add(30 * time.Second), calls: []string{get}},
		{name: "404 retry never passes the grace end", body: gid, dir: &fakeDirectory{GetErr: gerr(404, "Request_ResourceNotFound", 0)},
			delivery: func(d *Attempt) { d.FirstRequested = now.Add(-14*time.Minute - 50*time.Second); d.Number = 6 },
			outcome:  RetryScheduled, next: 7, retryAt: now.Add(11 * time.Second), calls: []string{get}},
		{name: "GET 404 after grace is absent, no delete", body: gid, dir: &fakeDirectory{GetErr: gerr(404, "Request_ResourceNotFound", 0)},
			delivery: func(d *Attempt) { d.FirstRequested = now.Add(-16 * time.Minute) }, outcome: Absent, calls: []string{get}},
		{name: "DELETE 404 after grace is absent", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(404, "Request_ResourceNotFound", 0)},
			delivery: func(d *Attempt) { d.FirstRequested = now.Add(-time.Hour) }, outcome: Absent, calls: []string{get, del}},
		{name: "429 waits at least Retry-After", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(429, "TooManyRequests", 2*time.Minute)},
			outcome: RetryScheduled, next: 2, retryAt: now.Add(2 * time.Minute), calls: []string{get, del}},
		{name: "503 backs off exponentially", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(503, "ServiceUnavailable", 0)},
			delivery: func(d *Attempt) { d.Number = 2 }, outcome: RetryScheduled, next: 3, retryAt: now.Add(time.Minute), calls: []string{get, del}},
		{name: "409 concurrency retries", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(409, "Directory_ConcurrencyViolation", 0)},
			outcome: RetryScheduled, next: 2},
		{name: "network error retries", body: gid, dir: &fakeDirectory{GetErr: purgetest.Unreachable(directory.Unreachable, errors.New("connection refused"))},
			outcome: RetryScheduled, next: 2},
		{name: "token failure retries", body: gid, dir: &fakeDirectory{GetErr: purgetest.Unreachable(directory.NoToken, errors.New("identity endpoint 500"))},
			outcome: RetryScheduled, next: 2, describes: "managed identity"},
		{name: "retries exhausted", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(503, "ServiceUnavailable", 0)},
			delivery: func(d *Attempt) { d.Number = 3 }, outcome: Failed, reason: ReasonRetriesExhausted, describes: "after 3 attempts"},
		{name: "403 on delete names the permission", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(403, "Authorization_RequestDenied", 0)},
			outcome: Failed, reason: ReasonForbidden, describes: "User.DeleteRestore.All"},
		{name: "403 on delete of an allowed group says app-only", body: gid,
			policy:  func(p *Policy) { p.AllowedTypes = append(p.AllowedTypes, directory.Group) },
			dir:     &fakeDirectory{Object: directory.DeletedObject{Type: directory.Group}, PurgeErr: gerr(403, "Authorization_RequestDenied", 0)},
			outcome: Failed, reason: ReasonForbidden, describes: "does not support purging groups"},
		{name: "403 on GET names the read permission", body: `{"id":"` + gid + `","type":"application"}`,
			dir: &fakeDirectory{GetErr: gerr(403, "Authorization_RequestDenied", 0)}, outcome: Failed, reason: ReasonForbidden, describes: "Application.Read.All"},
		{name: "403 on GET of a declared group is a type refusal", body: `{"id":"` + gid + `","type":"group"}`,
			dir: &fakeDirectory{GetErr: gerr(403, "Authorization_RequestDenied", 0)}, outcome: Failed, reason: ReasonTypeNotAllowed, calls: []string{get}, describes: "app-only"},
		{name: "403 on GET of an undeclared type explains both causes", body: gid,
			dir: &fakeDirectory{GetErr: gerr(403, "Authorization_RequestDenied", 0)}, outcome: Failed, reason: ReasonForbidden, calls: []string{get}, describes: "outside PURGE_ALLOWED_TYPES"},
		{name: "401 is forbidden", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(401, "InvalidAuthenticationToken", 0)},
			outcome: Failed, reason: ReasonForbidden, describes: "freshly acquired token"},
		{name: "400 is rejected", body: gid, dir: &fakeDirectory{Object: userItem(), PurgeErr: gerr(400, "Request_BadRequest", 0)},
			outcome: Failed, reason: ReasonGraphRejected},
		{name: "a write held back past the deadline is deferred, not an attempt", body: gid,
			dir: &fakeDirectory{Object: userItem(), PurgeErr: &directory.Error{Kind: directory.Paced, RetryAfter: 30 * time.Second,
				Message: "Graph writes are paused after a throttled answer until 2026-11-28T12:00:30Z", Err: errors.New("graph: paused")}},
			delivery: func(d *Attempt) { d.Number = 3 },
			outcome:  RetryScheduled, deferred: true, next: 3, retryAt: now.Add(30*time.Second + 7500*time.Millisecond), calls: []string{get, del},
			describes: "paused after a throttled answer"},
		{name: "hard-delete protection defers to deletion + 7 days", body: gid,
			dir:     &fakeDirectory{Object: userItem(), PurgeErr: purgetest.ErrMessage(directory.HardDeleteProtected, 400, "Request_BadRequest", "The object is protected by hard deletion protection.")},
			outcome: RetryScheduled, deferred: true, next: 1, retryAt: now.Add(-48*time.Hour + 7*24*time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := policy()
			if tt.policy != nil {
				tt.policy(&pol)
			}
			dir := tt.dir
			if dir == nil {
				dir = &fakeDirectory{}
			}
			p := NewProcessor(dir, pol, &ProcessorOptions{Now: func() time.Time { return now }, Jitter: func() float64 { return 0.5 }})
			at := Attempt{Number: 1, FirstRequested: now}
			if tt.delivery != nil {
				tt.delivery(&at)
			}
			dec := decide(p, tt.body, at)
			if dec.Outcome != tt.outcome || dec.Reason != tt.reason {
				t.Fatalf("outcome %s/%s, want %s/%s (%s)", dec.Outcome, dec.Reason, tt.outcome, tt.reason, dec.Description())
			}
			if tt.calls != nil && strings.Join(dir.Calls(), ",") != strings.Join(tt.calls, ",") {
				t.Errorf("calls %v, want %v", dir.Calls(), tt.calls)
			}
			if !tt.retryAt.IsZero() && !dec.RetryAt.Equal(tt.retryAt) {
				t.Errorf("retryAt %s, want %s", dec.RetryAt, tt.retryAt)
			}
			if tt.next != 0 && dec.NextAttempt != tt.next {
				t.Errorf("next attempt %d, want %d", dec.NextAttempt, tt.next)
			}
			if dec.Deferred != tt.deferred {
				t.Errorf("deferred %v, want %v", dec.Deferred, tt.deferred)
			}
			if tt.describes != "" && !strings.Contains(dec.Description(), tt.describes) {
				t.Errorf("description %q does not mention %q", dec.Description(), tt.describes)
			}
			if dec.Description() == "" {
				t.Error("empty description")
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, maxD := 30*time.Second, 15*time.Minute
	for attempt, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 6: 15 * time.Minute, 30: 15 * time.Minute} {
		if got := Backoff(attempt, base, maxD, 0, 0.5); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
	if lo, hi := Backoff(2, base, maxD, 0, 0), Backoff(2, base, maxD, 0, 0.999); lo != 48*time.Second || hi < 71*time.Second || hi > 72*time.Second {
		t.Errorf("jitter range %s..%s", lo, hi)
	}
	if got := Backoff(1, base, maxD, 20*time.Minute, 0.5); got != 20*time.Minute {
		t.Errorf("Retry-After beyond the cap must win: %s", got)
	}
	if got := Backoff(9, base, maxD, 0, 0.999); got > maxD {
		t.Errorf("jitter pushed past the cap: %s", got)
	}
}

func TestGraphCallRecorded(t *testing.T) {
	dir := &fakeDirectory{Object: userItem(), PurgeErr: gerr(http.StatusTooManyRequests, "TooManyRequests", time.Second)}
	p := NewProcessor(dir, policy(), &ProcessorOptions{Now: func() time.Time { return now }})
	dec := decide(p, gid, Attempt{Number: 1, FirstRequested: now})
	if dec.Graph.Method != "DELETE" || dec.Graph.Status != 429 || dec.Graph.Code != "TooManyRequests" || dec.Graph.RequestID != "req-err" {
		t.Errorf("graph call %+v", dec.Graph)
	}
	if !strings.Contains(dec.LastError, "429") {
		t.Errorf("last error %q", dec.LastError)
	}
}

// decide parses body at the edge, as the server does, and decides on the parsed request.
func decide(p *Processor, body string, at Attempt) Decision {
	req, err := ParseRequest([]byte(body))
	if err != nil {
		return p.Invalid(err, at)
	}
	return p.Decide(context.Background(), req, at)
}

// Descriptions are rendered from the decision's fields: the host's and the operator's wording of the same
// retry name the same time and cause, and neither leaves a bracket open.
func TestDescriptions(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 2, 0, 0, time.UTC)
	retry := Decision{Outcome: RetryScheduled, RetryAt: at, Why: "Graph is throttling requests (429); attempt 1 of 8"}
	deferral := Decision{Outcome: RetryScheduled, Deferred: true, RetryAt: at, Why: "the message asks not to purge before 2026-11-28T12:02:00Z"}
	failed := Decision{Outcome: Failed, Reason: ReasonProtected, Why: "Object x is listed in PURGE_PROTECTED_IDS and is never purged."}
	for _, tt := range []struct {
		d                Decision
		hosted, operator string
	}{
		{retry, "Retry scheduled for 2026-11-28T12:02:00Z: Graph is throttling requests (429); attempt 1 of 8.",
			"Not retried; run again after 2026-11-28T12:02:00Z: Graph is throttling requests (429); attempt 1 of 8."},
		{deferral, "Deferred until 2026-11-28T12:02:00Z: the message asks not to purge before 2026-11-28T12:02:00Z.",
			"Not purged yet; run again after 2026-11-28T12:02:00Z: the message asks not to purge before 2026-11-28T12:02:00Z."},
		{failed, failed.Why, failed.Why},
	} {
		if got := tt.d.Description(); got != tt.hosted {
			t.Errorf("Description() = %q\nwant %q", got, tt.hosted)
		}
		if got := tt.d.DescriptionNotRetried(); got != tt.operator {
			t.Errorf("DescriptionNotRetried() = %q\nwant %q", got, tt.operator)
		}
		for _, s := range []string{tt.d.Description(), tt.d.DescriptionNotRetried()} {
			if strings.Count(s, "(") != strings.Count(s, ")") {
				t.Errorf("unbalanced brackets: %q", s)
			}
		}
	}
}

// The settlement follows the outcome, and nothing is ever written in dry run.
func TestSettlement(t *testing.T) {
	for _, tt := range []struct {
		d    Decision
		want Settlement
	}{
		{Decision{Outcome: Purged}, SettleNothing}, {Decision{Outcome: Absent}, SettleNothing}, {Decision{Outcome: DryRun, DryRunOnly: true}, SettleNothing},
		{Decision{Outcome: RetryScheduled}, SettleRetryCopy}, {Decision{Outcome: Failed}, SettleFailureCopy},
		{Decision{Outcome: Failed, DryRunOnly: true}, SettleNothing}, {Decision{Outcome: RetryScheduled, DryRunOnly: true}, SettleNothing},
	} {
		if got := tt.d.Settlement(); got != tt.want {
			t.Errorf("%s dry=%v: %v, want %v", tt.d.Outcome, tt.d.DryRunOnly, got, tt.want)
		}
	}
}

// An error the directory did not classify counts as unreachable: retried, never a failure for good.
func TestUnclassifiedErrorIsRetried(t *testing.T) {
	p := NewProcessor(&fakeDirectory{GetErr: errors.New("something odd")}, policy(), &ProcessorOptions{Now: func() time.Time { return now }, Jitter: func() float64 { return 0.5 }})
	dec := decide(p, gid, Attempt{Number: 1, FirstRequested: now})
	if dec.Outcome != RetryScheduled || !strings.Contains(dec.Description(), "could not be reached") || dec.Graph.Method != "GET" {
		t.Errorf("%s %q %+v", dec.Outcome, dec.Description(), dec.Graph)
	}
}

func TestParseReason(t *testing.T) {
	for _, r := range Reasons {
		if got, ok := ParseReason(string(r)); !ok || got != r {
			t.Errorf("ParseReason(%q) = %q %v", r, got, ok)
		}
	}
	if _, ok := ParseReason("forbidden"); ok {
		t.Error("reasons are matched exactly, as DeadLetterReason carries them")
	}
}

func TestArticles(t *testing.T) {
	p := NewProcessor(&fakeDirectory{Object: directory.DeletedObject{Type: directory.Application}}, Policy{AllowedTypes: []directory.Type{directory.User}, Verify: true, MaxAttempts: 1},
		&ProcessorOptions{Now: func() time.Time { return now }})
	if d := decide(p, gid, Attempt{Number: 1, FirstRequested: now}).Description(); !strings.Contains(d, "is an application:") {
		t.Errorf("%q", d)
	}
	p = NewProcessor(&fakeDirectory{Object: userItem()}, policy(), &ProcessorOptions{Now: func() time.Time { return now }})
	if d := decide(p, `{"id":"`+gid+`","type":"application"}`, Attempt{Number: 1, FirstRequested: now}).Description(); !strings.Contains(d, "expects an application, but object "+gid+" in the recycle bin is a user;") {
		t.Errorf("%q", d)
	}
}
