package throttle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func reserve(t *testing.T, c *Controller, class Class, at time.Time) time.Duration {
	t.Helper()
	w, err := c.Reserve(class, at, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// An idle limiter lets a burst of the ceiling go at once, then paces the rest at the ceiling.
func TestBurstThenPace(t *testing.T) {
	c := New(&Options{WritesPerSecond: 20, Burst: 5 * time.Second})
	for i := range 101 {
		if w := reserve(t, c, Write, t0); w != 0 {
			t.Fatalf("call %d of the burst waits %s", i+1, w)
		}
	}
	for i := 1; i <= 5; i++ {
		if w := reserve(t, c, Write, t0); w != time.Duration(i)*50*time.Millisecond {
			t.Fatalf("call %d after the burst waits %s, want %s", 101+i, w, time.Duration(i)*50*time.Millisecond)
		}
	}
	// Reads have no limiter.
	for range 1000 {
		if w := reserve(t, c, Read, t0); w != 0 {
			t.Fatalf("a read waits %s", w)
		}
	}
}

// One throttled answer pauses every write of the process until its Retry-After has passed — to the
// millisecond, fractional Retry-After included — and the writes then go one by one at half the rate.
// Reads are not paused by a write's 429.
func TestThrottledAnswerPausesTheClass(t *testing.T) {
	c := New(&Options{WritesPerSecond: 20})
	c.Observe(Write, t0, Answer{Status: 429, RetryAfter: 2128 * time.Millisecond})
	until := t0.Add(2128 * time.Millisecond)
	if w := reserve(t, c, Write, t0.Add(time.Second)); w != until.Sub(t0.Add(time.Second)) {
		t.Fatalf("first write after the 429 waits %s, want until %s", w, until)
	}
	if w := reserve(t, c, Write, t0.Add(time.Second)); w != until.Add(100*time.Millisecond).Sub(t0.Add(time.Second)) {
		t.Errorf("second write waits %s, want the pause and one interval at 10/s", w)
	}
	if w := reserve(t, c, Read, t0.Add(time.Second)); w != 0 {
		t.Errorf("a read waits %s for a write's 429", w)
	}
	s := c.Stats()
	if s.Pauses != 1 || s.WriteRate != 10 || !s.PausedTill.Equal(until) {
		t.Errorf("stats %+v", s)
	}

	c.Observe(Read, t0, Answer{Status: 503, RetryAfter: 3 * time.Second})
	if w := reserve(t, c, Read, t0); w != 3*time.Second {
		t.Errorf("a read after a read's 503 with Retry-After waits %s", w)
	}
	c.Observe(Read, t0.Add(10*time.Second), Answer{Status: 503})
	if w := reserve(t, c, Read, t0.Add(10*time.Second)); w != 0 {
		t.Errorf("a 503 without Retry-After paused reads for %s", w)
	}
	c.Observe(Write, t0.Add(time.Minute), Answer{Status: 429})
	if w := reserve(t, c, Write, t0.Add(time.Minute)); w != defaultPause {
		t.Errorf("a 429 without Retry-After pauses for %s, want %s", w, defaultPause)
	}
}

// A call whose turn comes after its deadline is refused at once, names its turn, and takes nothing: the
// next call gets the same turn.
func TestTurnPastTheDeadlineIsRefused(t *testing.T) {
	c := New(&Options{WritesPerSecond: 1, Burst: time.Second})
	reserve(t, c, Write, t0)
	reserve(t, c, Write, t0)
	_, err := c.Reserve(Write, t0, t0.Add(500*time.Millisecond))
	var w *Wait
	if !errors.As(err, &w) || !w.Until.Equal(t0.Add(time.Second)) || w.Paused {
		t.Fatalf("err %v", err)
	}
	if got := reserve(t, c, Write, t0); got != time.Second {
		t.Errorf("the refused call took a turn: the next waits %s", got)
	}
	c.Observe(Write, t0, Answer{Status: 429, RetryAfter: time.Minute})
	if _, err := c.Reserve(Write, t0, t0.Add(30*time.Second)); !errors.As(err, &w) || !w.Paused || w.Until.Before(t0.Add(time.Minute)) {
		t.Errorf("paused: %v", err)
	}
	if c.Stats().Refused != 2 {
		t.Errorf("refused %d", c.Stats().Refused)
	}
}

// x-ms-throttle-limit-percentage near the limit stops the burst and slows the rate, at most once a second
// (answers of calls already in flight carry old news); between 0.8 and the threshold the rate holds; with
// no pressure it recovers gradually to the ceiling.
func TestAdaptsToUsageAndRecovers(t *testing.T) {
	c := New(&Options{WritesPerSecond: 20, Burst: 5 * time.Second})
	reserve(t, c, Write, t0)
	c.Observe(Write, t0, Answer{Status: 204, Usage: 0.97})
	c.Observe(Write, t0.Add(100*time.Millisecond), Answer{Status: 204, Usage: 0.99})
	if r := c.Stats().WriteRate; r != 16 {
		t.Fatalf("rate %v after high usage, want 16 (one decrease)", r)
	}
	if w := reserve(t, c, Write, t0.Add(100*time.Millisecond)); w != 0 {
		t.Errorf("first write after the usage warning waits %s", w)
	}
	if w := reserve(t, c, Write, t0.Add(100*time.Millisecond)); w != time.Second/16 {
		t.Errorf("the burst was not stopped: the next write waits %s", w)
	}
	c.Observe(Write, t0.Add(1100*time.Millisecond), Answer{Status: 204, Usage: 0.96})
	if r := c.Stats().WriteRate; r != 12.8 {
		t.Errorf("rate %v after a second high usage a second later, want 12.8", r)
	}
	c.Observe(Write, t0.Add(2*time.Second), Answer{Status: 204, Usage: 0.85})
	if r := c.Stats().WriteRate; r != 12.8 {
		t.Errorf("rate %v moved in the hold band", r)
	}
	at := t0.Add(2 * time.Second)
	for i := 1; i <= 10; i++ {
		at = at.Add(500 * time.Millisecond)
		c.Observe(Write, at, Answer{Status: 204})
	}
	if r := c.Stats().WriteRate; r != 20 {
		t.Errorf("rate %v after 5 s without pressure, want back at the ceiling 20", r)
	}
	for range 100 {
		c.Observe(Write, at.Add(time.Minute), Answer{Status: 204})
	}
	if r := c.Stats().WriteRate; r != 20 {
		t.Errorf("rate %v went past the ceiling", r)
	}
	for i := range 100 {
		c.Observe(Write, at.Add(time.Duration(i)*time.Hour), Answer{Status: 429, RetryAfter: time.Second})
	}
	if r := c.Stats().WriteRate; r != 1 {
		t.Errorf("rate %v, want the floor of 5 %% of the ceiling", r)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	c := New(&Options{WritesPerSecond: 20})
	c.Observe(Write, time.Now(), Answer{Status: 429, RetryAfter: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var w *Wait
	if err := c.Wait(ctx, Write, time.Second); !errors.As(err, &w) || !w.Paused {
		t.Errorf("a turn past the deadline: %v", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	c2 := New(&Options{WritesPerSecond: 1, Burst: time.Second})
	_ = c2.Wait(context.Background(), Write, 0)
	_ = c2.Wait(context.Background(), Write, 0)
	if err := c2.Wait(cancelled, Write, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait: %v", err)
	}
	if err := New(nil).Wait(context.Background(), Write, 0); err != nil {
		t.Errorf("no limiter: %v", err)
	}
}

// Many goroutines reserving and observing at once keep the limiter's arithmetic: every turn is distinct.
func TestConcurrentReservations(t *testing.T) {
	c := New(&Options{WritesPerSecond: 100, Burst: 10 * time.Millisecond})
	var mu sync.Mutex
	turns := map[time.Duration]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				w, err := c.Reserve(Write, t0, time.Time{})
				if err != nil {
					t.Error(err)
				}
				c.Observe(Write, t0, Answer{Status: 204})
				mu.Lock()
				if w > 0 && turns[w] {
					t.Errorf("turn %s given twice", w)
				}
				turns[w] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// A call whose turn is now is made however close its deadline: only a wait can be refused. (With
// PURGE_INVOCATION_TIMEOUT=5s the Graph calls get 2 s, no more than the margin, and every call used to be
// refused and its request deferred to now, for ever.)
func TestACallDueNowGoesAheadWhateverItsDeadline(t *testing.T) {
	c := New(&Options{WritesPerSecond: 1, Burst: time.Second})
	reserve(t, c, Write, t0) // the burst allows two writes at once; this is the first
	if wait, err := c.Reserve(Write, t0, t0.Add(-time.Second)); err != nil || wait != 0 {
		t.Fatalf("a call due now with its deadline (less margin) passed: wait %s, %v", wait, err)
	}
	if wait, err := c.Reserve(Read, t0, t0); err != nil || wait != 0 {
		t.Fatalf("a read due now at its deadline: wait %s, %v", wait, err)
	}
	// The next write must wait for its turn, past that deadline: refused, nothing taken.
	var w *Wait
	if _, err := c.Reserve(Write, t0, t0.Add(-time.Second)); !errors.As(err, &w) {
		t.Fatalf("a call that would have to wait past its deadline: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := New(&Options{WritesPerSecond: 20}).Wait(ctx, Write, 2*time.Second); err != nil {
		t.Errorf("an idle controller refused a call with 1 s left and a 2 s margin: %v", err)
	}
}
