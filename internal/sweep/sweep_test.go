package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/message"
)

var t0 = time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)

// clock is a fake clock that sleeping advances.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// bin is a fake recycle bin served in pages of size; fail holds errors to answer, in order, per type.
type bin struct {
	clk     *clock
	objects map[directory.Type][]directory.DeletedObject
	size    int
	fail    map[directory.Type][]error
	perCall time.Duration // clock time each call takes
	calls   []string
}

func (b *bin) ListDeleted(ctx context.Context, t directory.Type, next string) (directory.DeletedPage, error) {
	b.calls = append(b.calls, fmt.Sprintf("%s %q", t, next))
	b.clk.advance(b.perCall)
	if errs := b.fail[t]; len(errs) > 0 {
		b.fail[t] = errs[1:]
		if errs[0] != nil {
			return directory.DeletedPage{}, errs[0]
		}
	}
	start := 0
	if next != "" {
		fmt.Sscanf(next, "cursor-%d", &start)
	}
	all := b.objects[t]
	end := min(start+b.size, len(all))
	p := directory.DeletedPage{Objects: all[start:end]}
	if end < len(all) {
		p.Next = fmt.Sprintf("cursor-%d", end)
	}
	return p, nil
}

// queue is a fake trigger queue that can fail.
type queue struct {
	sent    []message.Outgoing
	batches int
	fail    error
}

func (q *queue) SendBatch(_ context.Context, name string, msgs []message.Outgoing) error {
	if name != "purge-requests" {
		return errors.New("wrong queue " + name)
	}
	if q.fail != nil {
		return q.fail
	}
	q.batches++
	q.sent = append(q.sent, msgs...)
	return nil
}

func obj(i int, t directory.Type, deleted time.Time) directory.DeletedObject {
	return directory.DeletedObject{ID: directory.MustParseObjectID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)), Type: t,
		DisplayName: fmt.Sprintf("%s %d", t, i), DeletedDateTime: deleted}
}

const day = 24 * time.Hour

func newBin(clk *clock) *bin {
	b := &bin{clk: clk, size: 3, objects: map[directory.Type][]directory.DeletedObject{}, fail: map[directory.Type][]error{}}
	base := clk.Now()
	// users: 8 objects over three pages, deleted 0..29 days ago; 5 past 7 days.
	for i, ago := range []time.Duration{0, 2 * day, 6*day + 23*time.Hour, 7 * day, 8 * day, 15 * day, 22 * day, 29 * day} {
		b.objects[directory.User] = append(b.objects[directory.User], obj(i, directory.User, base.Add(-ago)))
	}
	b.objects[directory.Application] = []directory.DeletedObject{obj(20, directory.Application, base.Add(-10*day)), obj(21, directory.Application, base.Add(-time.Hour))}
	b.objects[directory.Group] = []directory.DeletedObject{obj(30, directory.Group, base.Add(-20*day))}
	return b
}

func policy() Policy {
	return Policy{Types: []directory.Type{directory.User, directory.Application, directory.ServicePrincipal}, After: 7 * day, Queue: "purge-requests"}
}

func TestSweepEnqueuesWhatIsPastTheRetention(t *testing.T) {
	clk := &clock{now: t0}
	b := newBin(clk)
	q := &queue{}
	p := policy()
	p.Types = append(p.Types, directory.Group)
	p.ProtectedIDs = []directory.ObjectID{b.objects[directory.User][5].ID}
	sum := New(b, q, p, &Options{Now: clk.Now, Sleep: clk.Sleep, BatchSize: 1, Collect: true}).Run(context.Background())

	if sum.Outcome != Completed || sum.StoppedAt != "" || sum.Day != "2026-11-28" || !sum.Cutoff.Equal(t0.Add(-7*day)) {
		t.Fatalf("summary %+v", sum)
	}
	u, a, sp := sum.Types[0], sum.Types[1], sum.Types[2]
	if u.Type != directory.User || u.Listed != 8 || u.Eligible != 5 || u.Protected != 1 || u.Enqueued != 4 || u.Pages != 3 {
		t.Errorf("users %+v", u)
	}
	if a.Listed != 2 || a.Eligible != 1 || a.Enqueued != 1 || a.Pages != 1 || sp.Listed != 0 || sp.Pages != 1 {
		t.Errorf("applications %+v, service principals %+v", a, sp)
	}
	// Groups are never listed: they cannot be purged app-only.
	if len(sum.Skipped) != 1 || sum.Skipped[0].Type != directory.Group || len(sum.Types) != 3 {
		t.Errorf("skipped %+v", sum.Skipped)
	}
	for _, c := range b.calls {
		if strings.HasPrefix(c, "group") {
			t.Errorf("listed groups: %s", c)
		}
	}
	if len(q.sent) != 5 || q.batches != 5 { // one request per batch
		t.Errorf("sent %d in %d batches", len(q.sent), q.batches)
	}
	want := map[string]bool{}
	for _, m := range q.sent {
		want[m.MessageID] = true
		if !strings.Contains(string(m.Body), `"reason":"retention","requestedBy":"sweep"`) {
			t.Errorf("body %s", m.Body)
		}
	}
	for _, o := range b.objects[directory.User][3:] {
		in := want[message.SweepMessageID(o.ID, t0)]
		if in == (o.ID == b.objects[directory.User][5].ID) {
			t.Errorf("user %s enqueued %v", o.ID, in)
		}
	}
	// The ages: 0 d, 2 d, 6 d 23 h, 7 d, 8 d, 15 d, 22 d, 29 d.
	counts := []int{}
	eligible := []int{}
	for _, band := range u.Ages {
		counts = append(counts, band.Count)
		eligible = append(eligible, band.Eligible)
	}
	if fmt.Sprint(counts) != "[1 2 2 1 2 0]" || fmt.Sprint(eligible) != "[0 0 2 1 2 0]" {
		t.Errorf("ages %v eligible %v", counts, eligible)
	}
	if len(sum.Objects) != 10 || !sum.Objects[5].Protected || sum.Objects[5].MessageID != "" || sum.Objects[3].MessageID == "" {
		t.Errorf("objects %+v", sum.Objects)
	}
	// The same day again: the same MessageIds, which the queue's duplicate detection drops; only the object
	// that has since passed the retention (deleted 6 d 23 h before the first run) is new.
	q2 := &queue{}
	later := &clock{now: t0.Add(20 * time.Hour)}
	again := newBin(clk) // the same objects, the same deletion times
	New(again, q2, p, &Options{Now: later.Now, Sleep: later.Sleep}).Run(context.Background())
	fresh := 0
	for _, m := range q2.sent {
		if !want[m.MessageID] {
			fresh++
			if !strings.Contains(string(m.Body), b.objects[directory.User][2].ID.String()) {
				t.Errorf("a second run the same day made a new id for %s", m.Body)
			}
		}
	}
	if len(q2.sent) != 6 || fresh != 1 {
		t.Errorf("second run sent %d, %d new", len(q2.sent), fresh)
	}
}

func TestDryRunSendsNothingAndReportsTheSameSet(t *testing.T) {
	clk := &clock{now: t0}
	q := &queue{}
	p := policy()
	p.DryRun = true
	sum := New(newBin(clk), q, p, &Options{Now: clk.Now, Collect: true}).Run(context.Background())
	real := &queue{}
	New(newBin(clk), real, policy(), &Options{Now: clk.Now}).Run(context.Background())
	if len(q.sent) != 0 || sum.Totals().Enqueued != 0 || !sum.DryRun {
		t.Fatalf("dry run sent %d", len(q.sent))
	}
	var would []string
	for _, o := range sum.Objects {
		if o.MessageID != "" {
			would = append(would, o.MessageID)
		}
	}
	var sent []string
	for _, m := range real.sent {
		sent = append(sent, m.MessageID)
	}
	if fmt.Sprint(would) != fmt.Sprint(sent) || len(sent) != 6 {
		t.Errorf("dry run would enqueue %v, a real run enqueued %v", would, sent)
	}
}

func throttled(after time.Duration) error {
	return &directory.Error{Kind: directory.Throttled, RetryAfter: after, Call: directory.Call{Method: "GET", Status: 429}}
}

// A throttled list call is retried no sooner than its Retry-After; a call without one backs off.
func TestThrottledPageRetriedAfterRetryAfter(t *testing.T) {
	start := time.Now() // deadlines are real time
	clk := &clock{now: start}
	b := newBin(clk)
	b.fail[directory.User] = []error{nil, throttled(7 * time.Second), &directory.Error{Kind: directory.Unavailable}}
	q := &queue{}
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(4*time.Minute))
	defer cancel()
	sum := New(b, q, policy(), &Options{Now: clk.Now, Sleep: clk.Sleep, RetryDelay: time.Second}).Run(ctx)
	if sum.Outcome != Completed || sum.Types[0].Retries != 2 || sum.Types[0].Enqueued != 5 {
		t.Fatalf("summary %+v", sum.Types[0])
	}
	if fmt.Sprint(clk.slept) != "[7s 2s]" {
		t.Errorf("waits %v, want the Retry-After (7 s) then a backoff of 2 s", clk.slept)
	}
	if b.calls[1] != b.calls[2] {
		t.Errorf("the throttled page was not asked again: %v", b.calls)
	}
}

// A Retry-After beyond the deadline stops the run cleanly: what was listed was sent, the rest is for the
// next run, and the summary says where it stopped.
func TestCutShortAtTheDeadline(t *testing.T) {
	start := time.Now()
	clk := &clock{now: start}
	b := newBin(clk)
	b.fail[directory.User] = []error{nil, throttled(5 * time.Minute)}
	q := &queue{}
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(time.Minute))
	defer cancel()
	sum := New(b, q, policy(), &Options{Now: clk.Now, Sleep: clk.Sleep}).Run(ctx)
	if sum.Outcome != CutShort || !sum.Temporary() || !sum.Types[0].CutShort || sum.Types[0].Pages != 1 || !sum.Types[1].NotReached || !sum.Types[2].NotReached {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(sum.StoppedAt, "user, before page 2 (3 objects listed)") || len(clk.slept) != 0 {
		t.Errorf("stopped at %q, slept %v", sum.StoppedAt, clk.slept)
	}
	if len(q.sent) != 0 { // the first page held nothing past 7 days
		t.Errorf("sent %d", len(q.sent))
	}

	// Slow pages: the reserve before the deadline is kept for sending.
	clk = &clock{now: start}
	b = newBin(clk)
	b.perCall = 20 * time.Second
	q = &queue{}
	ctx2, cancel2 := context.WithDeadline(context.Background(), start.Add(65*time.Second))
	defer cancel2()
	sum = New(b, q, policy(), &Options{Now: clk.Now, Sleep: clk.Sleep, Reserve: 10 * time.Second}).Run(ctx2)
	if sum.Outcome != CutShort || sum.Types[0].Pages != 3 || sum.Types[0].Enqueued != 5 || sum.Types[1].Pages != 0 || !sum.Types[1].CutShort ||
		sum.Types[0].Duration != time.Minute {
		t.Errorf("slow run %+v", sum.Types)
	}
}

func TestFailures(t *testing.T) {
	clk := &clock{now: t0}
	b := newBin(clk)
	b.fail[directory.Application] = []error{&directory.Error{Kind: directory.Forbidden, Call: directory.Call{Status: 403}, Err: errors.New("403 Authorization_RequestDenied")}}
	q := &queue{}
	sum := New(b, q, policy(), &Options{Now: clk.Now, Sleep: clk.Sleep}).Run(context.Background())
	// A refused type fails the run but the others are still swept.
	if sum.Outcome != Failed || sum.Temporary() || sum.Types[1].Error == "" || sum.Types[0].Enqueued != 5 || sum.Types[2].Pages != 1 || sum.StoppedAt != "" {
		t.Fatalf("forbidden: %+v", sum)
	}
	// Temporary errors beyond the retries: failed, but temporary.
	b = newBin(clk)
	b.fail[directory.User] = []error{&directory.Error{Kind: directory.Unavailable}, &directory.Error{Kind: directory.Unavailable}, &directory.Error{Kind: directory.Unavailable}}
	sum = New(b, &queue{}, policy(), &Options{Now: clk.Now, Sleep: clk.Sleep, MaxPageRetries: 2}).Run(context.Background())
	if sum.Outcome != Failed || !sum.Temporary() || !sum.Types[0].Temporary || !strings.Contains(sum.Types[0].Error, "after 3 tries") {
		t.Fatalf("unavailable: %+v", sum.Types[0])
	}
	// A send failure ends the run: the queue is the same for every type.
	sum = New(newBin(clk), &queue{fail: errors.New("amqp:not-found")}, policy(), &Options{Now: clk.Now}).Run(context.Background())
	if sum.Outcome != Failed || sum.SendErr == nil || sum.Temporary() || !sum.Types[1].NotReached || !strings.Contains(sum.StoppedAt, "sending to purge-requests failed") {
		t.Fatalf("send failure: %+v", sum)
	}
}
