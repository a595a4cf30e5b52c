package funchost

// The timer trigger, as the timer extension's TimerListener and ScheduleMonitor run it
// (docs/functions-host.md §4.6, §7): the next occurrence of the NCRONTAB schedule (UTC); at
// start-up one past-due invocation when the recorded next occurrence has passed
// (schedule monitoring on), else one invocation when runOnStartup is set; the next
// occurrence is only scheduled after the invocation finished, so two runs of one timer
// never overlap; a failed invocation is not retried.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
)

// TimerStatus is a timer's schedule status (the timer extension's ScheduleStatus):
// the last occurrence run, the next one due, and when it was recorded.
type TimerStatus struct {
	Last        time.Time `json:"Last"`
	Next        time.Time `json:"Next"`
	LastUpdated time.Time `json:"LastUpdated"`
}

// timerStatusFile is where a monitored timer's status is kept between host runs
// when Options.TimerStatusDir is set (the real host keeps it in host storage).
func (h *Host) timerStatusFile(fn *Function) string {
	if h.opts.TimerStatusDir == "" {
		return ""
	}
	return filepath.Join(h.opts.TimerStatusDir, fn.Name+".status.json")
}

func (h *Host) loadTimerStatus(fn *Function) (*TimerStatus, error) {
	p := h.timerStatusFile(fn)
	if p == "" {
		return nil, nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st TimerStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &st, nil
}

func (h *Host) saveTimerStatus(fn *Function, st TimerStatus) {
	p := h.timerStatusFile(fn)
	if p == "" {
		return
	}
	if err := WriteTimerStatus(filepath.Dir(p), fn.Name, st); err != nil {
		h.log.logf(LevelWarning, catHost, "Function %s: recording the schedule status failed: %v", fn.Name, err)
	}
}

// WriteTimerStatus records a timer's status as a previous host run would have left it,
// for tests of past-due start-ups.
func WriteTimerStatus(dir, function string, st TimerStatus) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, function+".status.json"), b, 0o644)
}

// runTimer schedules fn's timer until ctx ends. Invocations run on invCtx so that a
// stopping host lets the one in flight finish (DrainTimeout).
func (h *Host) runTimer(ctx, invCtx context.Context, fn *Function, inflight *sync.WaitGroup) {
	t := fn.Timer
	now := time.Now().UTC()
	var status TimerStatus
	pastDue, startup := false, false
	if t.UseMonitor {
		st, err := h.loadTimerStatus(fn)
		if err != nil {
			h.log.logf(LevelWarning, catHost, "Function %s: reading the schedule status failed (%v); starting afresh", fn.Name, err)
		}
		if st != nil {
			status = *st
			expected := t.Schedule.Next(status.LastUpdated)
			if !status.Last.IsZero() {
				expected = t.Schedule.Next(status.Last)
			}
			switch {
			case !expected.Equal(status.Next.UTC()):
				// The schedule changed: re-computed from now, not past due.
				h.log.logf(LevelInformation, catHost, "Function %s: the schedule changed; the next occurrence is re-computed", fn.Name)
				status.Next = time.Time{}
			case now.After(status.Next):
				pastDue = true
			}
		}
	}
	if status.Next.IsZero() {
		status.Next = t.Schedule.Next(now)
		status.LastUpdated = now
		if t.UseMonitor {
			h.saveTimerStatus(fn, status)
		}
	}
	if !pastDue && t.RunOnStartup {
		startup = true
	}
	for {
		if !pastDue && !startup {
			if status.Next.IsZero() {
				h.log.logf(LevelWarning, catHost, "Function %s: the schedule %q has no next occurrence", fn.Name, t.Schedule)
				<-ctx.Done()
				return
			}
			h.log.logf(LevelInformation, catHost, "Function %s: next occurrence %s", fn.Name, status.Next.Format(time.RFC3339))
			wait := time.NewTimer(time.Until(status.Next))
			select {
			case <-ctx.Done():
				wait.Stop()
				return
			case <-wait.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		default:
		}
		reason := "Timer fired at " + time.Now().UTC().Format("2006-01-02T15:04:05.0000000+00:00")
		switch {
		case pastDue:
			reason += " (past due)"
		case startup:
			reason += " (run on startup)"
		}
		var st *TimerStatus
		if t.UseMonitor {
			cp := status
			st = &cp
		}
		inflight.Add(1)
		h.mu.Lock()
		h.stats.InFlight++
		h.mu.Unlock()
		ran := make(chan struct{})
		go func(pastDue bool) {
			defer inflight.Done()
			defer close(ran)
			h.invokeTimer(invCtx, fn, st, pastDue, reason)
		}(pastDue)
		select {
		case <-ran:
		case <-ctx.Done():
			return // the host is stopping: the run in flight is drained like any invocation
		}
		// The next occurrence counts from the end of the run: a run longer than the
		// schedule's interval skips the occurrences it overlapped.
		done := time.Now().UTC()
		if !startup || pastDue {
			status.Last = status.Next
		}
		status.Next = t.Schedule.Next(done)
		status.LastUpdated = done
		if t.UseMonitor {
			h.saveTimerStatus(fn, status)
		}
		pastDue, startup = false, false
	}
}

// invokeTimer runs one timer invocation: the request of docs/functions-host.md §4.6, sent
// and classified like any invocation; nothing is settled and a failure is not retried.
func (h *Host) invokeTimer(base context.Context, fn *Function, status *TimerStatus, pastDue bool, reason string) {
	start := time.Now()
	inv := Invocation{Function: fn.Name, InvocationID: uuid.NewString(), TimerPastDue: pastDue}
	h.log.logf(LevelInformation, catHost, "Executing 'Functions.%s' (Reason='%s', Id=%s)", fn.Name, reason, inv.InvocationID)
	if pastDue {
		h.log.logf(LevelInformation, catHost, "Trigger Details: UnscheduledInvocationReason: IsPastDue, OriginalSchedule: %s", status.Next.Format(time.RFC3339))
	}
	body := BuildTimerInvocationBody(fn.Name, fn.Timer.Name, status, pastDue, time.Now(), uuid.NewString())
	h.call(base, start, fn, body, &inv)
	inv.Duration = time.Since(start)
	if inv.Outcome == OutcomeSuccess {
		h.log.logf(LevelInformation, catHost, "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.Name, inv.InvocationID, inv.Duration.Milliseconds())
	} else {
		h.log.logf(LevelError, catHost, "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): %s: %v", fn.Name, inv.InvocationID, inv.Duration.Milliseconds(), inv.Outcome, inv.Err)
	}
	h.mu.Lock()
	h.stats.InFlight--
	h.stats.Invocations++
	h.stats.TimerRuns++
	h.mu.Unlock()
	if h.opts.OnInvocation != nil {
		h.opts.OnInvocation(inv)
	}
}

// BuildTimerInvocationBody is the request body for a timer invocation:
// {"Data":{<binding>:<TimerInfo>},"Metadata":{"sys":…}} — the TimerInfo as an object
// (Schedule.AdjustForDST, ScheduleStatus or null without monitoring, IsPastDue), its
// times written as Newtonsoft writes a DateTime, DateTime.MinValue zone-less, and
// Metadata without the dropped TimerTrigger key.
func BuildTimerInvocationBody(function, binding string, status *TimerStatus, pastDue bool, utcNow time.Time, randGUID string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Data":{`)
	b.Write(netQuote(binding))
	b.WriteString(`:{"Schedule":{"AdjustForDST":true},"ScheduleStatus":`)
	if status == nil {
		b.WriteString("null")
	} else {
		b.WriteString(`{"Last":`)
		b.Write(netTimerTime(status.Last))
		b.WriteString(`,"Next":`)
		b.Write(netTimerTime(status.Next))
		b.WriteString(`,"LastUpdated":`)
		b.Write(netTimerTime(status.LastUpdated))
		b.WriteByte('}')
	}
	fmt.Fprintf(&b, `,"IsPastDue":%t}},"Metadata":{"sys":`, pastDue)
	b.Write(sysJSON(function, utcNow, randGUID))
	b.WriteString("}}")
	return b.Bytes()
}

// netTimerTime writes a schedule time as the host does: an offset for a real time,
// DateTime.MinValue ("0001-01-01T00:00:00", no zone) for "never".
func netTimerTime(t time.Time) []byte {
	if t.IsZero() {
		return netQuote("0001-01-01T00:00:00")
	}
	return netQuote(t.UTC().Truncate(100*time.Nanosecond).Format("2006-01-02T15:04:05.9999999") + "+00:00")
}
