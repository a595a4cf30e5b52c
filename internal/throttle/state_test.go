package throttle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A process that starts after another received a 429 is paused until that 429's Retry-After has passed,
// and goes one by one after it (no burst); a pause already over holds nothing back.
func TestPauseOutlivesTheProcess(t *testing.T) {
	file := filepath.Join(t.TempDir(), "throttle.json")
	var errs []error
	opts := func(now time.Time) *Options {
		return &Options{WritesPerSecond: 20, StateFile: file, Now: func() time.Time { return now },
			OnStateError: func(err error) { errs = append(errs, err) }}
	}
	first := New(opts(t0))
	first.Observe(Write, t0, Answer{Status: 429, RetryAfter: 4 * time.Second})
	first.Observe(Read, t0, Answer{Status: 503, RetryAfter: 2 * time.Second})
	// A shorter pause after a longer one changes nothing.
	first.Observe(Write, t0.Add(time.Second), Answer{Status: 429, RetryAfter: time.Second})

	restarted := t0.Add(1500 * time.Millisecond)
	next := New(opts(restarted))
	if w := reserve(t, next, Write, restarted); w != 2500*time.Millisecond {
		t.Errorf("the successor's first write waits %s, want the 2.5 s left of the Retry-After", w)
	}
	if w := reserve(t, next, Write, restarted); w != 2550*time.Millisecond {
		t.Errorf("its second write waits %s, want one interval more: no burst after a pause", w)
	}
	if w := reserve(t, next, Read, restarted); w != 500*time.Millisecond {
		t.Errorf("its first read waits %s, want the 0.5 s left of the reads' pause", w)
	}

	later := New(opts(t0.Add(time.Minute)))
	if w := reserve(t, later, Write, t0.Add(time.Minute)); w != 0 {
		t.Errorf("a pause long over holds a write back %s", w)
	}
	if len(errs) != 0 {
		t.Errorf("state errors: %v", errs)
	}
	if matches, _ := filepath.Glob(file + ".*"); len(matches) != 0 {
		t.Errorf("temporary files left beside the state: %v", matches)
	}
}

// A state file that cannot be read or written is reported and does not stop pacing: the pause holds in
// memory.
func TestStateFileTroubleIsReportedNotFatal(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var errs []string
	report := func(err error) { errs = append(errs, err.Error()) }
	c := New(&Options{StateFile: corrupt, Now: func() time.Time { return t0 }, OnStateError: report})
	if w := reserve(t, c, Write, t0); w != 0 {
		t.Errorf("a corrupt state file paused writes for %s", w)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "reading the throttling state "+corrupt) {
		t.Errorf("reported %q", errs)
	}

	errs = nil
	missingDir := filepath.Join(dir, "no-such-dir", "throttle.json")
	c = New(&Options{StateFile: missingDir, Now: func() time.Time { return t0 }, OnStateError: report})
	if len(errs) != 0 {
		t.Errorf("a missing state file was reported: %q", errs)
	}
	c.Observe(Write, t0, Answer{Status: 429, RetryAfter: 3 * time.Second})
	if w := reserve(t, c, Write, t0); w != 3*time.Second {
		t.Errorf("the pause did not hold in memory: the write waits %s", w)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "keeping the throttling state in "+missingDir) {
		t.Errorf("reported %q", errs)
	}
}
