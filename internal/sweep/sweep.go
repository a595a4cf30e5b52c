// Package sweep is the retention sweep: it lists the recycle bin for each object type the policy allows and
// enqueues one ordinary purge request for every object deleted longer ago than the retention the
// organisation promises (PURGE_SWEEP_AFTER). It never purges anything itself: every request it enqueues goes
// through the purge path's checks — verification, protected ids, types, synced users, dry run — like any
// other. Protected ids are skipped before enqueueing (and counted), so they do not even reach the failure
// queue.
//
// It imports no SDK: it reads the bin through a [Lister] (the Graph client) and enqueues through an
// [Enqueuer] (package bus), and returns a [Summary] for the one log line of a run and for `handler sweep`.
//
// A run is bounded by its context's deadline. Listing stops, cleanly, when the time left is less than the
// reserve kept for sending what was listed; the summary says where it stopped, and the next run starts over.
// Nothing is lost or doubled by stopping: every page is sent before the next one is read, and a request's
// MessageId is the same for every run of one UTC day (message.SweepMessageID), so the trigger queue's
// duplicate detection drops what an earlier run of the day already enqueued.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/message"
)

// Lister reads the recycle bin for one type, page by page; *graph.Client implements it. next is the cursor
// the previous page returned, empty for the first page.
type Lister interface {
	ListDeleted(ctx context.Context, t directory.Type, next string) (directory.DeletedPage, error)
}

// Enqueuer sends a batch of messages to a queue; *bus.Client implements it.
type Enqueuer interface {
	SendBatch(ctx context.Context, queue string, msgs []message.Outgoing) error
}

// Policy is what a sweep looks for and where it sends it.
type Policy struct {
	// Types are PURGE_ALLOWED_TYPES; a type that cannot be purged app-only (groups) is not listed.
	Types []directory.Type
	// ProtectedIDs are never enqueued.
	ProtectedIDs []directory.ObjectID
	// After is PURGE_SWEEP_AFTER: an object deleted at least this long ago is eligible.
	After time.Duration
	// Queue is the trigger queue.
	Queue string
	// DryRun lists and counts but enqueues nothing.
	DryRun bool
}

// Options are the optional parts of a [Sweeper]. A nil *Options means defaults.
type Options struct {
	// Now is the clock (default time.Now); Sleep waits (default a timer that ends with ctx).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Reserve is the time kept before the deadline for sending the page in hand (default DefaultReserve).
	Reserve time.Duration
	// MaxPageRetries bounds the retries of one page after temporary errors (default 5).
	MaxPageRetries int
	// RetryDelay is the first wait after a temporary error without Retry-After, doubling (default 2 s).
	RetryDelay time.Duration
	// BatchSize is the most requests sent in one call to the Enqueuer (default 500).
	BatchSize int
	// Collect keeps every listed object in the summary (for the operator's dry-run report).
	Collect bool
	// Progress, when set, is called after each page with the type's counts so far.
	Progress func(TypeSummary)
}

// DefaultReserve is the part of a run's deadline kept for sending what was listed: one page of 999
// requests in a few batches.
const DefaultReserve = 10 * time.Second

// Sweeper runs sweeps.
type Sweeper struct {
	list      Lister
	enq       Enqueuer
	policy    Policy
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
	reserve   time.Duration
	retries   int
	delay     time.Duration
	batch     int
	collect   bool
	progress  func(TypeSummary)
	protected map[directory.ObjectID]bool
}

// New returns a Sweeper that reads with l and enqueues with e under p.
func New(l Lister, e Enqueuer, p Policy, opts *Options) *Sweeper {
	if opts == nil {
		opts = &Options{}
	}
	s := &Sweeper{list: l, enq: e, policy: p, now: opts.Now, sleep: opts.Sleep, reserve: opts.Reserve, retries: opts.MaxPageRetries,
		delay: opts.RetryDelay, batch: opts.BatchSize, collect: opts.Collect, progress: opts.Progress, protected: map[directory.ObjectID]bool{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = sleepCtx
	}
	if s.reserve <= 0 {
		s.reserve = DefaultReserve
	}
	if s.retries <= 0 {
		s.retries = 5
	}
	if s.delay <= 0 {
		s.delay = 2 * time.Second
	}
	if s.batch <= 0 {
		s.batch = 500
	}
	for _, id := range p.ProtectedIDs {
		s.protected[id] = true
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Outcome is how a run ended, as the summary line's "sweep" field says.
type Outcome string

const (
	// Completed: every listable type was listed to its end (in dry run: and nothing was sent).
	Completed Outcome = "completed"
	// CutShort: the deadline came first; the next run starts over.
	CutShort Outcome = "cut-short"
	// Failed: a type could not be listed for a cause that needs a fix (a missing permission), or the
	// requests could not be sent.
	Failed Outcome = "failed"
)

// Summary is what one run did.
type Summary struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"`
	// After and Cutoff: objects deleted at or before Cutoff (Started − After) are eligible.
	After  time.Duration `json:"-"`
	Cutoff time.Time     `json:"cutoff"`
	// Day is the UTC day in the requests' MessageIds.
	Day    string `json:"day"`
	DryRun bool   `json:"dryRun"`
	Queue  string `json:"queue"`
	// Types are the types listed (or, after a cut, not reached), in policy order.
	Types []TypeSummary `json:"types"`
	// Skipped are allowed types that are never listed, with why.
	Skipped []Skipped `json:"skipped,omitempty"`
	Outcome Outcome   `json:"outcome"`
	// StoppedAt says where a cut-short or failed run stopped; empty otherwise.
	StoppedAt string `json:"stoppedAt,omitempty"`
	// Objects are every listed object, when Options.Collect is set.
	Objects []Object `json:"objects,omitempty"`
	// SendErr is the error of a failed send, for the caller to classify; nil otherwise.
	SendErr error `json:"-"`
}

// Temporary reports whether everything that went wrong may pass by itself: a cut at the deadline, or
// listing errors that are all temporary. A failed send is the caller's to classify (SendErr).
func (s *Summary) Temporary() bool {
	if s.Outcome == Completed || s.SendErr != nil {
		return false
	}
	for _, ts := range s.Types {
		if ts.Error != "" && !ts.Temporary {
			return false
		}
	}
	return true
}

// Skipped is an allowed type the sweep does not list.
type Skipped struct {
	Type   directory.Type `json:"type"`
	Reason string         `json:"reason"`
}

// TypeSummary is what a run did for one type.
type TypeSummary struct {
	Type directory.Type `json:"type"`
	// Listed counts every object in the pages read; Eligible those deleted at or before the cutoff (protected
	// ones included); Protected the eligible ones skipped as PURGE_PROTECTED_IDS; Enqueued the requests
	// sent (repeats the trigger queue drops as duplicates included); Undated objects without a deletion time.
	Listed    int `json:"listed"`
	Eligible  int `json:"eligible"`
	Protected int `json:"protected"`
	Enqueued  int `json:"enqueued"`
	Undated   int `json:"undated,omitempty"`
	Pages     int `json:"pages"`
	// Retries counts list calls retried after a temporary error (a throttled answer, say).
	Retries  int           `json:"retries,omitempty"`
	Duration time.Duration `json:"-"`
	// CutShort: listing this type stopped at the deadline; NotReached: the deadline came before it.
	CutShort   bool `json:"cutShort"`
	NotReached bool `json:"notReached,omitempty"`
	// Error is why listing or sending failed; empty otherwise. Temporary marks a listing error that may
	// pass by itself (throttling or an outage that outlasted the retries).
	Error     string `json:"error,omitempty"`
	Temporary bool   `json:"temporary,omitempty"`
	// Ages counts the listed objects by days since deletion.
	Ages []Band `json:"ages"`
}

// Band counts objects deleted between From and To whole days ago (To −1: no upper end).
type Band struct {
	From     int `json:"from"`
	To       int `json:"to"`
	Count    int `json:"count"`
	Eligible int `json:"eligible"`
}

// bands are the age bands of the report: the last day, the first week, then weeks up to the 30 days Entra
// keeps an object.
var bands = [][2]int{{0, 0}, {1, 6}, {7, 13}, {14, 20}, {21, 29}, {30, -1}}

// Object is one listed object, as the dry-run report shows it.
type Object struct {
	ID              string         `json:"id"`
	Type            directory.Type `json:"type"`
	DisplayName     string         `json:"displayName,omitempty"`
	DeletedDateTime time.Time      `json:"deletedDateTime"`
	AgeDays         int            `json:"ageDays"`
	Eligible        bool           `json:"eligible"`
	Protected       bool           `json:"protected,omitempty"`
	// MessageID is the request's MessageId, for an eligible object that is not protected.
	MessageID string `json:"messageId,omitempty"`
}

// Totals adds up the types.
func (s *Summary) Totals() TypeSummary {
	var t TypeSummary
	for _, ts := range s.Types {
		t.Listed += ts.Listed
		t.Eligible += ts.Eligible
		t.Protected += ts.Protected
		t.Enqueued += ts.Enqueued
		t.Undated += ts.Undated
		t.Pages += ts.Pages
		t.Retries += ts.Retries
	}
	return t
}

// errCut is a stop at the deadline.
var errCut = errors.New("the run's deadline")

// Run sweeps once, within ctx's deadline.
func (s *Sweeper) Run(ctx context.Context) Summary {
	start := s.now().UTC()
	sum := Summary{Started: start, After: s.policy.After, Cutoff: start.Add(-s.policy.After), Day: start.Format(time.DateOnly),
		DryRun: s.policy.DryRun, Queue: s.policy.Queue, Outcome: Completed, Types: []TypeSummary{}}
	for _, t := range s.policy.Types {
		if ok, why := t.Purgeable(); !ok {
			sum.Skipped = append(sum.Skipped, Skipped{Type: t, Reason: why})
			continue
		}
		if sum.Outcome == CutShort || (sum.Outcome == Failed && sum.StoppedAt != "") {
			sum.Types = append(sum.Types, TypeSummary{Type: t, NotReached: true, Ages: newAges()})
			continue
		}
		ts, stop, err := s.sweepType(ctx, t, &sum)
		sum.Types = append(sum.Types, ts)
		switch {
		case errors.Is(err, errCut):
			sum.Outcome, sum.StoppedAt = CutShort, stop
		case err != nil && stop != "":
			// Sending failed: the queue is the same for every type, so the run ends here.
			sum.Outcome, sum.StoppedAt, sum.SendErr = Failed, stop, err
		case err != nil:
			sum.Outcome = Failed
		}
	}
	sum.Duration = s.now().Sub(start)
	return sum
}

func newAges() []Band {
	out := make([]Band, len(bands))
	for i, b := range bands {
		out[i] = Band{From: b[0], To: b[1]}
	}
	return out
}

// sweepType lists one type to its end, sending each page's requests before reading the next. stop says
// where it stopped when it returns errCut or a send error.
func (s *Sweeper) sweepType(ctx context.Context, t directory.Type, sum *Summary) (ts TypeSummary, stop string, err error) {
	ts = TypeSummary{Type: t, Ages: newAges()}
	begin := s.now()
	defer func() { ts.Duration = s.now().Sub(begin) }()
	next := ""
	for {
		var page directory.DeletedPage
		page, err = s.page(ctx, t, next, &ts)
		if errors.Is(err, errCut) {
			ts.CutShort = true
			return ts, fmt.Sprintf("%s, before page %d (%d objects listed): %v left too little time", t, ts.Pages+1, ts.Listed, errCut), err
		}
		if err != nil {
			ts.Error, ts.Temporary = err.Error(), directory.KindOf(err).Temporary() && ctx.Err() == nil
			return ts, "", err
		}
		ts.Pages++
		var reqs []message.Outgoing
		for _, obj := range page.Objects {
			if req, ok := s.count(obj, t, &ts, sum); ok {
				reqs = append(reqs, req)
			}
		}
		if !s.policy.DryRun {
			for i := 0; i < len(reqs); i += s.batch {
				chunk := reqs[i:min(i+s.batch, len(reqs))]
				if err := s.enq.SendBatch(ctx, s.policy.Queue, chunk); err != nil {
					ts.Error = "sending the requests: " + err.Error()
					return ts, fmt.Sprintf("%s, page %d: sending to %s failed", t, ts.Pages, s.policy.Queue), err
				}
				ts.Enqueued += len(chunk)
			}
		}
		if s.progress != nil {
			s.progress(ts)
		}
		if page.Next == "" {
			return ts, "", nil
		}
		next = page.Next
	}
}

// count files one listed object and returns its request when it is to be enqueued.
func (s *Sweeper) count(obj directory.DeletedObject, t directory.Type, ts *TypeSummary, sum *Summary) (message.Outgoing, bool) {
	ts.Listed++
	if obj.DeletedDateTime.IsZero() || obj.ID.IsZero() {
		ts.Undated++
		return message.Outgoing{}, false
	}
	age := int(sum.Started.Sub(obj.DeletedDateTime) / (24 * time.Hour))
	eligible := !obj.DeletedDateTime.After(sum.Cutoff)
	for i := range ts.Ages {
		b := &ts.Ages[i]
		if age >= b.From && (b.To < 0 || age <= b.To) || (i == 0 && age < 0) {
			b.Count++
			if eligible {
				b.Eligible++
			}
			break
		}
	}
	o := Object{ID: obj.ID.String(), Type: t, DisplayName: obj.DisplayName, DeletedDateTime: obj.DeletedDateTime, AgeDays: age, Eligible: eligible}
	var req message.Outgoing
	ok := false
	if eligible {
		ts.Eligible++
		if s.protected[obj.ID] {
			ts.Protected++
			o.Protected = true
		} else {
			req, ok = message.SweepRequest(obj.ID, t, sum.Started), true
			o.MessageID = req.MessageID
		}
	}
	if s.collect {
		sum.Objects = append(sum.Objects, o)
	}
	return req, ok
}

// page reads one page, retrying temporary errors no sooner than their Retry-After while the deadline
// allows. It returns errCut when the deadline (less the reserve) comes first.
func (s *Sweeper) page(ctx context.Context, t directory.Type, next string, ts *TypeSummary) (directory.DeletedPage, error) {
	deadline, bounded := ctx.Deadline()
	listBy := deadline.Add(-s.reserve)
	lctx := ctx
	if bounded {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(ctx, listBy)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		if bounded && !s.now().Before(listBy) {
			return directory.DeletedPage{}, errCut
		}
		page, err := s.list.ListDeleted(lctx, t, next)
		if err == nil {
			return page, nil
		}
		if ctx.Err() != nil {
			return page, ctx.Err()
		}
		kind := directory.KindOf(err)
		if !kind.Temporary() {
			return page, err
		}
		if lctx.Err() != nil {
			return page, errCut
		}
		if attempt >= s.retries {
			return page, fmt.Errorf("giving up after %d tries: %w", attempt+1, err)
		}
		wait := s.delay << attempt
		var de *directory.Error
		if errors.As(err, &de) && de.RetryAfter > 0 {
			wait = max(wait, de.RetryAfter)
			if kind == directory.Throttled || kind == directory.Paced {
				wait = de.RetryAfter // never sooner than Graph asked; no later than needed either
			}
		}
		if bounded && s.now().Add(wait).After(listBy) {
			return page, errCut
		}
		ts.Retries++
		if err := s.sleep(ctx, wait); err != nil {
			return page, err
		}
	}
}
