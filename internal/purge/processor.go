package purge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
)

// Directory is the part of Microsoft Graph a purge needs, in the domain's terms. The Graph client
// implements it; tests use purgetest.Directory.
//
// Both methods return the Call they made (method, status, request-id) also when they fail. A failure is a
// *directory.Error whose Kind says what it means (not found, throttled, forbidden, …); any other error
// counts as directory.Unreachable.
type Directory interface {
	// DeletedObject reads one object in the recycle bin (GET /directory/deletedItems/{id}).
	DeletedObject(ctx context.Context, id directory.ObjectID) (directory.DeletedObject, directory.Call, error)
	// Purge permanently deletes it (DELETE /directory/deletedItems/{id}).
	Purge(ctx context.Context, id directory.ObjectID) (directory.Call, error)
}

// The methods a purge makes, as the log line's graphMethod names them.
const (
	MethodGet    = "GET"
	MethodDelete = "DELETE"
)

// Policy is the operator's configuration of the checks (docs/contract.md §10).
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

// Attempt is where a request stands in its retries, as its delivery's bookkeeping says.
type Attempt struct {
	// Number is the attempt this delivery is: 1 for the first delivery, PurgeAttempt on a retry copy.
	Number int
	// FirstRequested is when the purge was first requested; the not-found grace window counts from it.
	FirstRequested time.Time
}

// ProcessorOptions are the optional parts of a [Processor]. A nil *ProcessorOptions means defaults.
type ProcessorOptions struct {
	// Now defaults to time.Now; Jitter to a uniform random number in [0,1). Tests fix both.
	Now    func() time.Time
	Jitter func() float64
}

// Processor decides the fate of one purge request.
type Processor struct {
	dir    Directory
	policy Policy
	now    func() time.Time
	jitter func() float64
}

// NewProcessor returns a Processor that asks dir and applies policy.
func NewProcessor(dir Directory, policy Policy, opts *ProcessorOptions) *Processor {
	p := &Processor{dir: dir, policy: policy, now: time.Now, jitter: rand.Float64}
	if opts != nil && opts.Now != nil {
		p.now = opts.Now
	}
	if opts != nil && opts.Jitter != nil {
		p.jitter = opts.Jitter
	}
	return p
}

func (p *Processor) clock() time.Time { return p.now().UTC() }

func (p *Processor) start(at Attempt) Decision {
	return Decision{Attempt: max(at.Number, 1), FirstRequested: at.FirstRequested, DryRunOnly: p.policy.DryRun}
}

// Invalid decides a message whose body [ParseRequest] refused: a failure with reason InvalidMessage,
// without any call.
func (p *Processor) Invalid(err error, at Attempt) Decision {
	problem := err.Error()
	if re, ok := errors.AsType[*RequestError](err); ok {
		problem = re.Problem
	}
	return p.fail(p.start(at), ReasonInvalidMessage, "The message is not a purge request: "+problem+
		`. Send one message per object whose body is {"id":"<object id GUID>"} or the bare GUID.`)
}

// Decide runs the checks in the order docs/contract.md §4.1 fixes — protected id, notBefore, GET, type not allowed,
// type mismatch, synced user, minimum age, dry run, DELETE — and returns at the first one that decides (an
// invalid message was already refused by [ParseRequest] and goes to [Processor.Invalid]). It makes no
// Graph call for a protected or not-yet-due request, and no DELETE unless every check passed and dry run
// is off.
func (p *Processor) Decide(ctx context.Context, req Request, at Attempt) Decision {
	dec := p.start(at)
	dec.Request = req
	dec.ObjectType = req.Type
	id := req.ID

	for _, protected := range p.policy.ProtectedIDs {
		if protected == id {
			return p.fail(dec, ReasonProtected, fmt.Sprintf("Object %s is listed in PURGE_PROTECTED_IDS and is never purged. "+
				"If this purge is really intended, remove the id from that setting, then replay the message.", id))
		}
	}

	now := p.clock()
	if !req.NotBefore.IsZero() && req.NotBefore.After(now) {
		return p.defer_(dec, req.NotBefore, fmt.Sprintf("the message asks not to purge before %s", req.NotBefore.Format(time.RFC3339)))
	}

	var obj directory.DeletedObject
	if p.policy.Verify {
		var call directory.Call
		var err error
		obj, call, err = p.dir.DeletedObject(ctx, id)
		dec.Graph = callOf(MethodGet, call, err)
		if err != nil {
			// An identity granted least privilege can read only the types it may purge, so a refused read
			// of an object the message itself declares as a type outside the policy is that refusal.
			if directory.KindOf(err) == directory.Forbidden && req.Type != "" && !p.allowed(req.Type) {
				return p.refuseType(dec, req.Type, " (Graph also refused to read it, as expected for an identity without permissions for this type)")
			}
			return p.directoryFailure(dec, err, MethodGet)
		}
		dec.ObjectType = obj.Type
		if obj.Type == "" {
			dec.ObjectType = req.Type
		}
	}

	typ := dec.ObjectType
	switch {
	case typ == "" && p.policy.Verify:
		return p.fail(dec, ReasonTypeNotAllowed, fmt.Sprintf("Graph did not report the type of object %s (@odata.type %q) and the message names none, "+
			"so it cannot be checked against PURGE_ALLOWED_TYPES. Add \"type\" to the message, then replay it.", id, obj.RawType))
	case typ != "" && !p.allowed(typ):
		return p.refuseType(dec, typ, "")
	}
	if p.policy.Verify && req.Type != "" && obj.Type != "" && req.Type != obj.Type {
		return p.fail(dec, ReasonTypeMismatch, fmt.Sprintf("The message expects %s, but object %s in the recycle bin is %s; nothing was purged. "+
			"Check the id and type in the request.", withArticle(req.Type), id, withArticle(obj.Type)))
	}
	if p.policy.Verify && typ == directory.User && obj.OnPremisesSyncEnabled && !p.policy.AllowSynced {
		return p.fail(dec, ReasonSyncedObject, fmt.Sprintf("User %s is synced from on-premises Active Directory: purging it in Entra would not stop "+
			"the next sync from creating it again. Delete it on-premises (or set PURGE_ALLOW_SYNCED=true), then replay the message.", id))
	}
	if p.policy.MinDeletedAge > 0 && !obj.DeletedDateTime.IsZero() {
		if due := obj.DeletedDateTime.Add(p.policy.MinDeletedAge); due.After(now) {
			return p.defer_(dec, due, fmt.Sprintf("object was deleted at %s, less than PURGE_MIN_DELETED_AGE (%s) ago",
				obj.DeletedDateTime.Format(time.RFC3339), p.policy.MinDeletedAge))
		}
	}
	if p.policy.DryRun {
		dec.Outcome = DryRun
		dec.Why = fmt.Sprintf("Dry run: %s %s passed every check and would have been purged; nothing was written.", orUnknown(typ), id)
		return dec
	}

	call, err := p.dir.Purge(ctx, id)
	dec.Graph = callOf(MethodDelete, call, err)
	if err != nil {
		if directory.KindOf(err) == directory.HardDeleteProtected {
			due := now.Add(p.policy.RetryMaxDelay)
			if !obj.DeletedDateTime.IsZero() {
				due = obj.DeletedDateTime.Add(HardDeleteProtection)
			}
			if !due.After(now) {
				due = now.Add(p.policy.RetryMaxDelay)
			}
			dec.LastError = short(err)
			return p.defer_(dec, due, "Graph's hard-deletion protection blocks purging this object until seven days after its deletion")
		}
		return p.directoryFailure(dec, err, MethodDelete)
	}
	dec.Outcome = Purged
	dec.Why = fmt.Sprintf("%s %s permanently deleted.", orUnknown(typ), id)
	return dec
}

// refuseType fails a request whose object type the policy does not allow (or Graph cannot purge).
func (p *Processor) refuseType(dec Decision, typ directory.Type, note string) Decision {
	why := fmt.Sprintf("PURGE_ALLOWED_TYPES (%s) does not include it. If such purges are intended, add %s to that setting, then replay the message.",
		joinTypes(p.policy.AllowedTypes), typ)
	if ok, reason := typ.Purgeable(); !ok {
		why = reason + "."
	}
	dec.ObjectType = typ
	return p.fail(dec, ReasonTypeNotAllowed, fmt.Sprintf("Object %s is %s%s: %s", dec.Request.ID, withArticle(typ), note, why))
}

// directoryFailure turns a failed GET or DELETE into absent, a retry, or a failure.
func (p *Processor) directoryFailure(dec Decision, err error, method string) Decision {
	now := p.clock()
	id := dec.Request.ID
	de, _ := errors.AsType[*directory.Error](err)
	switch kind := directory.KindOf(err); {
	case kind == directory.NotFound:
		first := dec.FirstRequested
		if first.IsZero() {
			first = now
		}
		graceEnd := first.Add(p.policy.NotFoundGrace)
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
		dec.Why = fmt.Sprintf("Object %s is not in the recycle bin (404 for longer than PURGE_NOT_FOUND_GRACE): it was already purged, "+
			"never deleted, or deleted more than 30 days ago. Nothing to do.", id)
		return dec
	case kind == directory.Paced:
		// The call was not made: this process holds its Graph calls back past the deadline. Not an attempt;
		// the turns of many deferred requests are spread over half the wait again, so they do not all come
		// back at once.
		wait := de.RetryAfter
		dec.LastError = short(err)
		return p.defer_(dec, now.Add(wait+time.Duration(float64(wait)/2*p.jitter())),
			fmt.Sprintf("%s, past this invocation's deadline; the purge waits for its turn", de.Message))
	case kind.Temporary():
		return p.transient(dec, err, de)
	case kind == directory.Forbidden:
		return p.fail(dec, ReasonForbidden, p.forbidden(dec, de, method))
	default:
		return p.fail(dec, ReasonGraphRejected, fmt.Sprintf("Graph rejected %s of object %s with %d %s%s. This will not succeed by retrying as is; "+
			"check the object in the Entra admin center, fix the cause, then replay the message.", method, id, de.Call.Status, de.Code(), msgSuffix(de.Message)))
	}
}

func (p *Processor) forbidden(dec Decision, de *directory.Error, method string) string {
	typ := dec.ObjectType
	status := fmt.Sprintf("%d %s", de.Call.Status, de.Code())
	if de.Call.Status == 401 {
		status += " even with a freshly acquired token"
	}
	if method == MethodGet {
		if typ != "" {
			return fmt.Sprintf("Graph refused (%s) to read %s %s from the recycle bin: the Function App's identity needs the application permission %s "+
				"for verification. An admin grants it (README, \"Graph permissions\"); a new grant can take hours to reach managed-identity tokens. "+
				"Then replay the message.", status, typ, dec.Request.ID, typ.ReadPermission())
		}
		return fmt.Sprintf("Graph refused (%s) to read object %s from the recycle bin. Either it is of a type the identity is not granted to read — "+
			"a group, say, or another type outside PURGE_ALLOWED_TYPES (%s), which would be refused anyway — or the identity lacks the read permission "+
			"for its type (User.Read.All for users, Application.Read.All for applications and service principals; README, \"Graph permissions\"). "+
			"Add \"type\" to the message to have such requests refused by type, or grant the permission and replay the message.",
			status, dec.Request.ID, joinTypes(p.policy.AllowedTypes))
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
// de is nil when the error was not classified by the directory (it then counts as unreachable).
func (p *Processor) transient(dec Decision, err error, de *directory.Error) Decision {
	dec.LastError = short(err)
	if dec.Attempt >= p.policy.MaxAttempts {
		return p.fail(dec, ReasonRetriesExhausted, fmt.Sprintf("Gave up on object %s after %d attempts (PURGE_MAX_ATTEMPTS); the last error was: %s. "+
			"Replay the message once the cause is fixed.", dec.Request.ID, dec.Attempt, dec.LastError))
	}
	what := "Graph could not be reached"
	var retryAfter time.Duration
	if de != nil {
		retryAfter = de.RetryAfter
	}
	switch {
	case de != nil && de.Kind == directory.Throttled:
		what = "Graph is throttling requests (429)"
	case de != nil && de.Kind == directory.Unavailable:
		what = fmt.Sprintf("Graph answered %d %s", de.Call.Status, de.Code())
	case de != nil && de.Kind == directory.NoToken:
		what = "no token could be had from the managed identity"
	case errors.Is(err, context.DeadlineExceeded):
		what = "the call did not finish within the invocation deadline"
	}
	at := p.clock().Add(p.backoff(dec.Attempt, retryAfter))
	return p.retry(dec, at, fmt.Sprintf("%s; attempt %d of %d", what, dec.Attempt, p.policy.MaxAttempts))
}

func (p *Processor) retry(dec Decision, at time.Time, why string) Decision {
	dec.Outcome = RetryScheduled
	dec.RetryAt = at.UTC()
	dec.NextAttempt = dec.Attempt + 1
	dec.Why = why
	return dec
}

// defer_ schedules the request for when it may go ahead; a deferral is not an attempt.
func (p *Processor) defer_(dec Decision, at time.Time, why string) Decision {
	dec.Outcome = RetryScheduled
	dec.Deferred = true
	dec.RetryAt = at.UTC()
	dec.NextAttempt = dec.Attempt
	dec.Why = why
	return dec
}

func (p *Processor) fail(dec Decision, reason Reason, description string) Decision {
	dec.Outcome = Failed
	dec.Reason = reason
	dec.Why = description
	return dec
}

func (p *Processor) allowed(t directory.Type) bool {
	if t == directory.AdministrativeUnit {
		return false
	}
	for _, a := range p.policy.AllowedTypes {
		if a == t {
			return true
		}
	}
	return false
}

// backoff is PURGE_RETRY_BASE_DELAY × 2^(attempt−1), capped at PURGE_RETRY_MAX_DELAY, with ±20 % jitter
// (so retries of many objects spread out), and never less than a Retry-After Graph sent.
func (p *Processor) backoff(attempt int, retryAfter time.Duration) time.Duration {
	return Backoff(attempt, p.policy.RetryBaseDelay, p.policy.RetryMaxDelay, retryAfter, p.jitter())
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

// callOf is the call a decision records: what the directory returned, else what its error names, with the
// method the domain asked for.
func callOf(method string, c directory.Call, err error) directory.Call {
	if de, ok := errors.AsType[*directory.Error](err); ok && c == (directory.Call{}) {
		c = de.Call
	}
	c.Method = method
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

// withArticle is "a user", "an application".
func withArticle(t directory.Type) string {
	if strings.ContainsRune("aeioAEIO", rune(string(t + "x")[0])) { // "a user": u sounds like "you"
		return "an " + string(t)
	}
	return "a " + string(t)
}

func joinTypes(ts []directory.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}
