package purge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/graph"
)

// Directory is the part of Microsoft Graph a purge needs. Errors from Graph are *graph.Error; a call that
// got no answer (network, timeout, no token) is a *graph.CallError.
type Directory interface {
	GetDeletedItem(ctx context.Context, id directory.ObjectID) (graph.DeletedItem, graph.Result, error)
	PurgeDeletedItem(ctx context.Context, id directory.ObjectID) (graph.Result, error)
}

var _ Directory = (*graph.Client)(nil)

// Policy is the operator's configuration of the checks (DESIGN.md §4).
type Policy struct {
	AllowedTypes   []directory.Type
	ProtectedIDs   []directory.ObjectID
	Verify         bool
	AllowSynced    bool
	MinDeletedAge  time.Duration
	DryRun         bool
	MaxAttempts    int
	NotFoundGrace  time.Duration
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
}

// HardDeleteProtection is how long Graph's hard-deletion protection blocks a purge after a soft delete.
const HardDeleteProtection = 7 * 24 * time.Hour

// Delivery is one delivery of a message, as the server decoded it from the host's invocation.
type Delivery struct {
	Body      []byte
	MessageID string
	// DeliveryCount is Service Bus's count for this message (1 on first delivery); logged, not decided on.
	DeliveryCount int
	// Attempt is the attempt number this delivery is (PurgeAttempt of a retry copy, else 1).
	Attempt int
	// FirstRequested is when the purge was first requested: PurgeFirstRequested of a retry copy, else the
	// message's enqueue time. The not-found grace window counts from it.
	FirstRequested time.Time
	// OriginalMessageID is the first message's id (OriginalMessageId of a retry copy, else MessageID).
	OriginalMessageID string
}

// Processor decides the fate of one purge request. Its zero value is not usable: set Directory and Policy.
type Processor struct {
	Directory Directory
	Policy    Policy
	// Now and Jitter default to time.Now and a uniform random number in [0,1); tests replace them.
	Now    func() time.Time
	Jitter func() float64
}

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// Decide runs the checks in the order DESIGN.md §3 fixes — invalid message, protected id, notBefore, GET,
// type not allowed, type mismatch, synced user, minimum age, dry run, DELETE — and returns at the first one
// that decides. It makes no Graph call for an invalid, protected or not-yet-due request, and no DELETE
// unless every check passed and dry run is off.
func (p *Processor) Decide(ctx context.Context, d Delivery) Decision {
	dec := Decision{Attempt: max(d.Attempt, 1), DryRunOnly: p.Policy.DryRun}
	req, err := ParseRequest(d.Body)
	if err != nil {
		return p.fail(dec, ReasonInvalidMessage, "The message is not a purge request: "+
			strings.TrimPrefix(err.Error(), ErrInvalidRequest.Error()+": ")+
			`. Send one message per object whose body is {"id":"<object id GUID>"} or the bare GUID.`)
	}
	dec.Request = req
	dec.ObjectType = req.Type
	id := req.ID

	for _, protected := range p.Policy.ProtectedIDs {
		if protected == id {
			return p.fail(dec, ReasonProtected, fmt.Sprintf("Object %s is listed in PURGE_PROTECTED_IDS and is never purged. "+
				"If this purge is really intended, remove the id from that setting, then replay the message.", id))
		}
	}

	now := p.now()
	if !req.NotBefore.IsZero() && req.NotBefore.After(now) {
		return p.defer_(dec, req.NotBefore, fmt.Sprintf("the message asks not to purge before %s", req.NotBefore.Format(time.RFC3339)))
	}

	var item graph.DeletedItem
	if p.Policy.Verify {
		var res graph.Result
		item, res, err = p.Directory.GetDeletedItem(ctx, id)
		dec.Graph = call(http.MethodGet, res, err)
		if err != nil {
			// An identity granted least privilege can read only the types it may purge, so a refused read
			// of an object the message itself declares as a type outside the policy is that refusal.
			var ge *graph.Error
			if errors.As(err, &ge) && (ge.StatusCode == http.StatusForbidden || ge.StatusCode == http.StatusUnauthorized) &&
				req.Type != "" && !p.allowed(req.Type) {
				return p.refuseType(dec, req.Type, " (Graph also refused to read it, as expected for an identity without permissions for this type)")
			}
			return p.graphFailure(dec, d, err, http.MethodGet)
		}
		dec.ObjectType = item.Type
		if item.Type == "" {
			dec.ObjectType = req.Type
		}
	}

	typ := dec.ObjectType
	switch {
	case typ == "" && p.Policy.Verify:
		return p.fail(dec, ReasonTypeNotAllowed, fmt.Sprintf("Graph did not report the type of object %s (@odata.type %q) and the message names none, "+
			"so it cannot be checked against PURGE_ALLOWED_TYPES. Add \"type\" to the message, then replay it.", id, item.RawType))
	case typ != "" && !p.allowed(typ):
		return p.refuseType(dec, typ, "")
	}
	if p.Policy.Verify && req.Type != "" && item.Type != "" && req.Type != item.Type {
		return p.fail(dec, ReasonTypeMismatch, fmt.Sprintf("The message expects a %s, but object %s in the recycle bin is a %s; nothing was purged. "+
			"Check the id and type in the request.", req.Type, id, item.Type))
	}
	if p.Policy.Verify && typ == directory.User && item.OnPremisesSyncEnabled && !p.Policy.AllowSynced {
		return p.fail(dec, ReasonSyncedObject, fmt.Sprintf("User %s is synced from on-premises Active Directory: purging it in Entra would not stop "+
			"the next sync from creating it again. Delete it on-premises (or set PURGE_ALLOW_SYNCED=true), then replay the message.", id))
	}
	if p.Policy.MinDeletedAge > 0 && !item.DeletedDateTime.IsZero() {
		if due := item.DeletedDateTime.Add(p.Policy.MinDeletedAge); due.After(now) {
			return p.defer_(dec, due, fmt.Sprintf("object was deleted at %s, less than PURGE_MIN_DELETED_AGE (%s) ago",
				item.DeletedDateTime.Format(time.RFC3339), p.Policy.MinDeletedAge))
		}
	}
	if p.Policy.DryRun {
		dec.Outcome = DryRun
		dec.Description = fmt.Sprintf("Dry run: %s %s passed every check and would have been purged; nothing was written.", orUnknown(typ), id)
		return dec
	}

	res, err := p.Directory.PurgeDeletedItem(ctx, id)
	dec.Graph = call(http.MethodDelete, res, err)
	if err != nil {
		var ge *graph.Error
		if errors.As(err, &ge) && ge.HardDeleteProtected() {
			due := now.Add(p.Policy.RetryMaxDelay)
			if !item.DeletedDateTime.IsZero() {
				due = item.DeletedDateTime.Add(HardDeleteProtection)
			}
			if !due.After(now) {
				due = now.Add(p.Policy.RetryMaxDelay)
			}
			dec.LastError = short(err)
			return p.defer_(dec, due, "Graph's hard-deletion protection blocks purging this object until seven days after its deletion")
		}
		return p.graphFailure(dec, d, err, http.MethodDelete)
	}
	dec.Outcome = Purged
	dec.Description = fmt.Sprintf("%s %s permanently deleted.", orUnknown(typ), id)
	return dec
}

// refuseType fails a request whose object type the policy does not allow (or Graph cannot purge).
func (p *Processor) refuseType(dec Decision, typ directory.Type, note string) Decision {
	why := fmt.Sprintf("PURGE_ALLOWED_TYPES (%s) does not include it. If such purges are intended, add %s to that setting, then replay the message.",
		joinTypes(p.Policy.AllowedTypes), typ)
	if ok, reason := typ.Purgeable(); !ok {
		why = reason + "."
	}
	dec.ObjectType = typ
	return p.fail(dec, ReasonTypeNotAllowed, fmt.Sprintf("Object %s is a %s%s: %s", dec.Request.ID, typ, note, why))
}

// graphFailure turns a failed GET or DELETE into absent, a retry, or a failure.
func (p *Processor) graphFailure(dec Decision, d Delivery, err error, method string) Decision {
	now := p.now()
	id := dec.Request.ID
	var ge *graph.Error
	if errors.As(err, &ge) {
		switch {
		case ge.NotFound():
			first := d.FirstRequested
			if first.IsZero() {
				first = now
			}
			graceEnd := first.Add(p.Policy.NotFoundGrace)
			if now.Before(graceEnd) {
				at := now.Add(p.backoff(dec.Attempt, 0))
				if at.After(graceEnd) {
					at = graceEnd.Add(time.Second)
				}
				dec.LastError = short(err)
				return p.retry(dec, at, fmt.Sprintf("Graph does not show object %s in the recycle bin yet (404); a soft delete can take a while to replicate, "+
					"so it is retried until %s (PURGE_NOT_FOUND_GRACE from the first request)", id, graceEnd.Format(time.RFC3339)))
			}
			dec.Outcome = Absent
			dec.Description = fmt.Sprintf("Object %s is not in the recycle bin (404 for longer than PURGE_NOT_FOUND_GRACE): it was already purged, "+
				"never deleted, or deleted more than 30 days ago. Nothing to do.", id)
			return dec
		case ge.Transient():
			return p.transient(dec, err, ge.RetryAfter)
		case ge.StatusCode == http.StatusUnauthorized || ge.StatusCode == http.StatusForbidden:
			return p.fail(dec, ReasonForbidden, p.forbidden(dec, ge, method))
		default:
			return p.fail(dec, ReasonGraphRejected, fmt.Sprintf("Graph rejected %s of object %s with %d %s%s. This will not succeed by retrying as is; "+
				"check the object in the Entra admin center, fix the cause, then replay the message.", method, id, ge.StatusCode, ge.Code, msgSuffix(ge.Message)))
		}
	}
	return p.transient(dec, err, 0)
}

func (p *Processor) forbidden(dec Decision, ge *graph.Error, method string) string {
	typ := dec.ObjectType
	status := fmt.Sprintf("%d %s", ge.StatusCode, ge.Code)
	if ge.StatusCode == http.StatusUnauthorized {
		status += " even with a freshly acquired token"
	}
	if method == http.MethodGet {
		if typ != "" {
			return fmt.Sprintf("Graph refused (%s) to read %s %s from the recycle bin: the Function App's identity needs the application permission %s "+
				"for verification. An admin grants it (README, \"Graph permissions\"); a new grant can take hours to reach managed-identity tokens. "+
				"Then replay the message.", status, typ, dec.Request.ID, typ.ReadPermission())
		}
		return fmt.Sprintf("Graph refused (%s) to read object %s from the recycle bin. Either it is of a type the identity is not granted to read — "+
			"a group, say, or another type outside PURGE_ALLOWED_TYPES (%s), which would be refused anyway — or the identity lacks the read permission "+
			"for its type (User.Read.All for users, Application.Read.All for applications and service principals; README, \"Graph permissions\"). "+
			"Add \"type\" to the message to have such requests refused by type, or grant the permission and replay the message.",
			status, dec.Request.ID, joinTypes(p.Policy.AllowedTypes))
	}
	if typ == directory.Group {
		return fmt.Sprintf("Graph refused (%s) to purge group %s: Microsoft Graph does not support purging groups with application permissions. "+
			"Purge it as a signed-in Groups Administrator, or let the recycle bin remove it after 30 days.", status, dec.Request.ID)
	}
	perm := "User.DeleteRestore.All for users, Application.ReadWrite.OwnedBy or Application.ReadWrite.All for applications and service principals"
	if typ != "" {
		perm = typ.PurgePermission()
	}
	return fmt.Sprintf("Graph refused (%s) to purge %s %s: the Function App's identity needs the application permission %s "+
		"(and, for a user who held a privileged admin role, a sufficiently privileged Entra role). An admin grants it (README, \"Graph permissions\"); "+
		"a new grant can take hours to reach managed-identity tokens. Then replay the message.", status, orUnknown(typ), dec.Request.ID, perm)
}

// transient schedules a retry after max(Retry-After, backoff), or fails once PURGE_MAX_ATTEMPTS is reached.
func (p *Processor) transient(dec Decision, err error, retryAfter time.Duration) Decision {
	dec.LastError = short(err)
	if dec.Attempt >= p.Policy.MaxAttempts {
		return p.fail(dec, ReasonRetriesExhausted, fmt.Sprintf("Gave up on object %s after %d attempts (PURGE_MAX_ATTEMPTS); the last error was: %s. "+
			"Replay the message once the cause is fixed.", dec.Request.ID, dec.Attempt, dec.LastError))
	}
	what := "Graph could not be reached"
	var ge *graph.Error
	var te *graph.TokenError
	switch {
	case errors.As(err, &ge) && ge.StatusCode == http.StatusTooManyRequests:
		what = "Graph is throttling requests (429)"
	case errors.As(err, &ge):
		what = fmt.Sprintf("Graph answered %d %s", ge.StatusCode, ge.Code)
	case errors.As(err, &te):
		what = "no token could be had from the managed identity"
	case errors.Is(err, context.DeadlineExceeded):
		what = "the call did not finish within the invocation deadline"
	}
	at := p.now().Add(p.backoff(dec.Attempt, retryAfter))
	return p.retry(dec, at, fmt.Sprintf("%s; attempt %d of %d", what, dec.Attempt, p.Policy.MaxAttempts))
}

func (p *Processor) retry(dec Decision, at time.Time, why string) Decision {
	dec.Outcome = RetryScheduled
	dec.RetryAt = at.UTC()
	dec.NextAttempt = dec.Attempt + 1
	dec.Description = fmt.Sprintf("Retry scheduled for %s: %s.", dec.RetryAt.Format(time.RFC3339), why)
	return dec
}

// defer_ schedules the request for when it may go ahead; a deferral is not an attempt.
func (p *Processor) defer_(dec Decision, at time.Time, why string) Decision {
	dec.Outcome = RetryScheduled
	dec.Deferred = true
	dec.RetryAt = at.UTC()
	dec.NextAttempt = dec.Attempt
	dec.Description = fmt.Sprintf("Deferred until %s: %s.", dec.RetryAt.Format(time.RFC3339), why)
	return dec
}

func (p *Processor) fail(dec Decision, reason Reason, description string) Decision {
	dec.Outcome = Failed
	dec.Reason = reason
	dec.Description = description
	return dec
}

func (p *Processor) allowed(t directory.Type) bool {
	if t == directory.AdministrativeUnit {
		return false
	}
	for _, a := range p.Policy.AllowedTypes {
		if a == t {
			return true
		}
	}
	return false
}

// backoff is PURGE_RETRY_BASE_DELAY × 2^(attempt−1), capped at PURGE_RETRY_MAX_DELAY, with ±20 % jitter
// (so retries of many objects spread out), and never less than a Retry-After Graph sent.
func (p *Processor) backoff(attempt int, retryAfter time.Duration) time.Duration {
	return Backoff(attempt, p.Policy.RetryBaseDelay, p.Policy.RetryMaxDelay, retryAfter, p.jitter())
}

func (p *Processor) jitter() float64 {
	if p.Jitter != nil {
		return p.Jitter()
	}
	return rand.Float64()
}

// Backoff computes the delay before attempt+1. jitter is in [0,1): 0.5 means no jitter.
func Backoff(attempt int, base, maxDelay, retryAfter time.Duration, jitter float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(base) * math.Pow(2, float64(attempt-1))
	if d > float64(maxDelay) {
		d = float64(maxDelay)
	}
	d *= 0.8 + 0.4*jitter
	if d > float64(maxDelay) {
		d = float64(maxDelay)
	}
	delay := time.Duration(d)
	if delay < retryAfter {
		delay = retryAfter
	}
	return delay.Round(time.Millisecond)
}

func call(method string, res graph.Result, err error) GraphCall {
	c := GraphCall{Method: method, Status: res.StatusCode, RequestID: res.RequestID}
	var ge *graph.Error
	if errors.As(err, &ge) {
		c.Status, c.Code = ge.StatusCode, ge.Code
		if ge.RequestID != "" {
			c.RequestID = ge.RequestID
		}
	}
	return c
}

// short renders an error for PurgeLastError and descriptions: one line, bounded.
func short(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func msgSuffix(m string) string {
	if m == "" {
		return ""
	}
	return " (" + m + ")"
}

func orUnknown(t directory.Type) string {
	if t == "" {
		return "object"
	}
	return string(t)
}

func joinTypes(ts []directory.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}
