// Package throttle paces this process's calls to Microsoft Graph so that it runs close to Graph's limit
// without a 429 storm. Graph's identity write limit (3,000 writes per 150 s per app and tenant, 20 a
// second; docs/graph.md §4.1) is shared by every concurrent call and every instance, so what one call learns
// must hold back all the others:
//
//   - a 429, or a 503 with Retry-After, pauses every call of its class (writes, or reads) until the
//     Retry-After has passed, instead of each call waiting it out on its own and trying again;
//   - writes go through a rate limiter (at most the configured writes per second, with a short burst) that
//     lowers its rate on throttling and when Graph's x-ms-throttle-limit-percentage says the limit is
//     nearly used (docs/graph.md §4.2), and recovers gradually;
//   - reads cost resource units, not write quota: they are paused by their own 429s, never by the writes'.
//
// A call whose turn would come after its deadline is refused at once with a [*Wait] naming when to try
// again, so the caller can schedule the work for later instead of holding a message lock.
//
// A pause can outlive its process: with [Options.StateFile] it is kept in a file that the next process
// reads when it starts (see state.go).
//
// The controller is deterministic given its clock: [Controller.Reserve] and [Controller.Observe] take the
// time, and only [Controller.Wait] sleeps.
package throttle

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Class is what a call costs Graph: a write (DELETE: write quota and a resource unit) or a read (GET: a
// resource unit).
type Class int

const (
	Write Class = iota
	Read
)

func (c Class) String() string {
	if c == Write {
		return "write"
	}
	return "read"
}

// Tuning of the adaptation. Graph sends x-ms-throttle-limit-percentage from 0.8 of a limit on; 1.0 is
// where throttling starts.
const (
	// highUsage is where the limiter stops bursting and slows down: a few percent of the limit are left.
	highUsage = 0.95
	// decreaseFactor is applied to the rate on a throttled answer (halved) or a high usage (slower).
	throttledFactor = 0.5
	highUsageFactor = 0.8
	// minInterval between two decreases: the answers of calls already in flight carry old news.
	minDecreaseInterval = time.Second
	// recoveryPerSecond is how much of the ceiling the rate regains per second without pressure.
	recoveryPerSecond = 0.1
	// floorFraction of the ceiling is the slowest the limiter goes.
	floorFraction = 0.05
	// defaultBurst is how many seconds of the ceiling may go at once when the limiter has been idle.
	defaultBurst = 5 * time.Second
	// defaultPause is how long a throttled answer without Retry-After pauses its class.
	defaultPause = time.Second
)

// Options configures a [Controller]. A nil *Options means defaults.
type Options struct {
	// WritesPerSecond is the ceiling of the write rate (PURGE_MAX_WRITES_PER_SECOND); 0 means no write
	// limiter, only the pauses.
	WritesPerSecond float64
	// Burst is how long a stretch of the ceiling may go at once after the limiter was idle (default 5 s,
	// so 100 writes at 20 a second).
	Burst time.Duration
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
	// StateFile, when set, is where the pauses are kept, so that a process started after this one died
	// honours a Retry-After this one received: the Functions host kills its worker on shutdown and at
	// functionTimeout, and the message the worker was waiting with comes back at once to its successor.
	// The file is read by New and written on every pause that lasts longer than the one it holds.
	StateFile string
	// OnStateError hears why the state file could not be read or written (nil: not told). The pauses
	// then hold in this process only; no call fails because of the file.
	OnStateError func(error)
}

// Controller paces the calls of one process. It is safe for concurrent use.
type Controller struct {
	now func() time.Time

	mu     sync.Mutex
	lanes  [2]lane
	burst  time.Duration
	events Stats

	state *stateFile // nil: pauses in memory only
}

// lane is one class's state: a pause and, for writes, a rate limiter (the generic cell rate algorithm: a
// call at t is allowed when t >= tat - burst, and moves tat on by 1/rate).
type lane struct {
	pausedUntil time.Time
	ceiling     float64 // 0: no limiter
	rate        float64
	tat         time.Time
	lastDown    time.Time
	lastUp      time.Time
}

// Stats count what the controller did, for logs and benchmarks.
type Stats struct {
	Pauses     int     // throttled answers that paused a class
	Decreases  int     // rate decreases
	Refused    int     // calls refused because their turn was past their deadline
	WriteRate  float64 // the write rate now
	PausedTill time.Time
}

// New returns a controller.
func New(opts *Options) *Controller {
	if opts == nil {
		opts = &Options{}
	}
	c := &Controller{now: time.Now, burst: defaultBurst}
	if opts.Now != nil {
		c.now = opts.Now
	}
	if opts.Burst > 0 {
		c.burst = opts.Burst
	}
	if opts.WritesPerSecond > 0 {
		c.lanes[Write].ceiling = opts.WritesPerSecond
		c.lanes[Write].rate = opts.WritesPerSecond
	}
	if opts.StateFile != "" {
		c.state = &stateFile{path: opts.StateFile, onError: opts.OnStateError}
		now := c.now()
		for class, until := range c.state.load() {
			if until.After(now) {
				c.pauseUntil(&c.lanes[class], until)
			}
		}
	}
	return c
}

// Wait is the answer to a call whose turn comes after its deadline: it may go ahead at Until.
type Wait struct {
	Class Class
	Until time.Time
	// Paused is true when the class is paused by a throttled answer (rather than only paced).
	Paused bool
}

func (w *Wait) Error() string {
	if w.Paused {
		return fmt.Sprintf("Graph %ss are paused after a throttled answer until %s", w.Class, w.Until.UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("Graph %ss are paced: this one's turn is at %s", w.Class, w.Until.UTC().Format(time.RFC3339Nano))
}

// Reserve asks for a call of class at now, to be made by deadline (zero: no deadline). It returns how long
// to wait before making it; the turn is taken. When the call would have to wait until after the deadline,
// nothing is taken and the error is a *Wait. A call whose turn is now goes ahead whatever its deadline:
// there is nothing to wait for, and refusing it would defer its request to now, again and again (an
// invocation deadline whose Graph share is no longer than the caller's margin refused every call).
func (c *Controller) Reserve(class Class, now, deadline time.Time) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &c.lanes[class]
	start := now
	paused := l.pausedUntil.After(now)
	if paused {
		start = l.pausedUntil
	}
	at, tat := start, l.tat
	if l.ceiling > 0 {
		interval := time.Duration(float64(time.Second) / l.rate)
		tolerance := time.Duration(float64(c.burst) * l.rate / l.ceiling)
		if tat.Before(start) {
			tat = start
		}
		if earliest := tat.Add(-tolerance); earliest.After(at) {
			at = earliest
		}
		tat = tat.Add(interval)
	}
	if !deadline.IsZero() && at.After(now) && at.After(deadline) {
		c.events.Refused++
		return 0, &Wait{Class: class, Until: at, Paused: paused}
	}
	l.tat = tat
	return at.Sub(now), nil
}

// Answer is what Graph's answer to one call says about its limits.
type Answer struct {
	Status int
	// RetryAfter is the Retry-After Graph sent; zero when none.
	RetryAfter time.Duration
	// Usage is x-ms-throttle-limit-percentage (0.8 to 1.8; 1.0 is where throttling starts); zero when
	// Graph did not send it (below 0.8 of every limit).
	Usage float64
}

// Throttled reports an answer that asks the client to slow down: a 429, or a 503 with Retry-After.
func (a Answer) Throttled() bool {
	return a.Status == 429 || (a.Status == 503 && a.RetryAfter > 0)
}

// Observe takes what an answer to a call of class, received at now, says.
// A pause that lasts longer than before is written to the state file, outside the lock.
func (c *Controller) Observe(class Class, now time.Time, a Answer) {
	if until, longer := c.observe(class, now, a); longer && c.state != nil {
		c.state.save(class, until)
	}
}

// observe is Observe under the lock; it returns the class's pause and whether this answer lengthened it.
func (c *Controller) observe(class Class, now time.Time, a Answer) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &c.lanes[class]
	switch {
	case a.Throttled():
		pause := a.RetryAfter
		if pause <= 0 {
			pause = defaultPause
		}
		c.events.Pauses++
		c.slowDown(l, now, throttledFactor)
		longer := now.Add(pause).After(l.pausedUntil)
		c.pauseUntil(l, now.Add(pause))
		return l.pausedUntil, longer
	case a.Usage >= highUsage:
		c.slowDown(l, now, highUsageFactor)
		// Graph's budget is nearly used: stop bursting.
		if l.ceiling > 0 && l.tat.Before(now.Add(c.tolerance(l))) {
			l.tat = now.Add(c.tolerance(l))
		}
	case a.Usage > 0:
		// Above 0.8 of a limit but not near it: hold the rate.
		l.lastUp = now
	case a.Status > 0 && a.Status < 400:
		c.recover(l, now)
	}
	return l.pausedUntil, false
}

// pauseUntil pauses l until until (not earlier than it is paused already). No burst after a pause: the
// calls waiting for it go one by one at the lane's rate.
func (c *Controller) pauseUntil(l *lane, until time.Time) {
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	if l.ceiling > 0 && l.tat.Before(l.pausedUntil.Add(c.tolerance(l))) {
		l.tat = l.pausedUntil.Add(c.tolerance(l))
	}
}

// tolerance is the burst the limiter allows at its current rate.
func (c *Controller) tolerance(l *lane) time.Duration {
	return time.Duration(float64(c.burst) * l.rate / l.ceiling)
}

func (c *Controller) slowDown(l *lane, now time.Time, factor float64) {
	if l.ceiling == 0 || now.Sub(l.lastDown) < minDecreaseInterval {
		return
	}
	l.rate = math.Max(l.ceiling*floorFraction, l.rate*factor)
	l.lastDown, l.lastUp = now, now
	c.events.Decreases++
}

func (c *Controller) recover(l *lane, now time.Time) {
	if l.ceiling == 0 || l.rate >= l.ceiling {
		l.lastUp = now
		return
	}
	if l.lastUp.IsZero() {
		l.lastUp = now
		return
	}
	dt := now.Sub(l.lastUp).Seconds()
	l.rate = math.Min(l.ceiling, l.rate+l.ceiling*recoveryPerSecond*dt)
	l.lastUp = now
}

// Stats returns what the controller did so far and its write rate now.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.events
	s.WriteRate = c.lanes[Write].rate
	s.PausedTill = c.lanes[Write].pausedUntil
	return s
}

// Wait waits for the turn of a call of class, or returns a *Wait at once when the call would have to wait
// until after ctx's deadline less margin (the time the call itself needs); a call whose turn is now never
// waits and is never refused. It returns ctx's error if ctx ends first.
func (c *Controller) Wait(ctx context.Context, class Class, margin time.Duration) error {
	now := c.now()
	var deadline time.Time
	if d, ok := ctx.Deadline(); ok {
		deadline = d.Add(-margin)
	}
	wait, err := c.Reserve(class, now, deadline)
	if err != nil || wait <= 0 {
		return err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
