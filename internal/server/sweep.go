package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/entra-purge/entra-purge/internal/config"
	"github.com/entra-purge/entra-purge/internal/funcproto"
	"github.com/entra-purge/entra-purge/internal/sweep"
)

// SweepFunctionName and SweepBindingName must match sweep/function.json: the host POSTs the timer to
// /sweep with the TimerInfo under Data.timer. A test checks the file.
const (
	SweepFunctionName = "sweep"
	SweepBindingName  = "timer"
)

// Sweep is what the server needs to run the retention sweep's timer invocations.
type Sweep struct {
	// Sweeper runs one sweep; nil when the sweep is not configured (disabled), and then an invocation is
	// refused rather than run without a retention setting.
	Sweeper *sweep.Sweeper
	// Timeout bounds one run (PURGE_SWEEP_TIMEOUT), below the host's functionTimeout.
	Timeout time.Duration
}

// sweepState lets one run go at a time in this process: the host never overlaps two runs of one timer
// (docs/functions-host.md §7.2), and a second run meanwhile would only repeat the first.
type sweepState struct{ mu sync.Mutex }

func (s *Server) invokeSweep(w http.ResponseWriter, r *http.Request) {
	start := s.clock()
	invocationID := r.Header.Get("X-Azure-Functions-InvocationId")
	inv, err := funcproto.DecodeInvocation(r.Body)
	var timer funcproto.Timer
	if err == nil {
		timer, err = inv.TimerTrigger(SweepBindingName)
	}
	if err != nil {
		s.stderr("entra-purge: sweep invocation %s not run: %v", invocationID, err)
		funcproto.WriteResponse(w, http.StatusInternalServerError, funcproto.Response{})
		return
	}
	if s.sweep.Sweeper == nil {
		s.stderr("entra-purge: sweep invocation %s not run: the sweep is not configured (%s is true, or %s is not set)",
			invocationID, config.EnvSweepDisabled, config.EnvSweepAfter)
		funcproto.WriteResponse(w, http.StatusInternalServerError, funcproto.Response{})
		return
	}
	if !s.sweepRun.mu.TryLock() {
		line := s.logSweepSkipped(invocationID, timer)
		funcproto.WriteResponse(w, http.StatusOK, funcproto.Response{Logs: nonEmpty(line)})
		return
	}
	defer s.sweepRun.mu.Unlock()
	timeout := s.sweep.Timeout
	if timeout <= 0 {
		timeout = config.DefaultSweepTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), timeout)
	sum := s.sweep.Sweeper.Run(ctx)
	cancel()
	line := s.logSweep(sum, invocationID, timer, s.clock().Sub(start))
	if sum.Outcome == sweep.Failed && !sum.Temporary() {
		// A failed answer is what the host records as a failed execution, which alerts can see; its Logs
		// are dropped, so the reason goes to stderr too.
		s.stderr("entra-purge: sweep invocation %s failed: %s", invocationID, sweepError(sum))
		funcproto.WriteResponse(w, http.StatusInternalServerError, funcproto.Response{})
		return
	}
	funcproto.WriteResponse(w, http.StatusOK, funcproto.Response{Logs: nonEmpty(line)})
}

func nonEmpty(line string) []string {
	if line == "" {
		return nil
	}
	return []string{line}
}

// sweepError is the first error of a run, in a line.
func sweepError(sum sweep.Summary) string {
	var parts []string
	if sum.StoppedAt != "" {
		parts = append(parts, sum.StoppedAt)
	}
	for _, ts := range sum.Types {
		if ts.Error != "" {
			parts = append(parts, string(ts.Type)+": "+ts.Error)
		}
	}
	return strings.Join(parts, "; ")
}

// logSweep writes the run's one summary line (same conventions as the purge line: zerolog, one JSON
// object, stdout and the answer's Logs). Its "sweep" field is the outcome; it has no "outcome" field, so
// queries and alerts over purge decisions do not count it.
func (s *Server) logSweep(sum sweep.Summary, invocationID string, timer funcproto.Timer, took time.Duration) string {
	level := zerolog.InfoLevel
	switch {
	case sum.Outcome == sweep.Failed:
		level = zerolog.ErrorLevel
	case sum.Outcome == sweep.CutShort:
		level = zerolog.WarnLevel
	}
	return s.writeLine(func(lg zerolog.Logger) {
		tot := sum.Totals()
		types := zerolog.Dict()
		for _, ts := range sum.Types {
			d := zerolog.Dict().Int("listed", ts.Listed).Int("eligible", ts.Eligible).Int("protected", ts.Protected).
				Int("enqueued", ts.Enqueued).Int("pages", ts.Pages).Int64("durationMs", ts.Duration.Milliseconds()).Bool("cutShort", ts.CutShort)
			if ts.Undated > 0 {
				d = d.Int("undated", ts.Undated)
			}
			if ts.Retries > 0 {
				d = d.Int("retries", ts.Retries)
			}
			if ts.NotReached {
				d = d.Bool("notReached", true)
			}
			if ts.Error != "" {
				d = d.Str("error", ts.Error)
			}
			types = types.Dict(string(ts.Type), d)
		}
		ev := lg.WithLevel(level).
			Time(zerolog.TimestampFieldName, s.clock()).
			Str("sweep", string(sum.Outcome)).
			Str("invocationId", invocationID).
			Bool("isPastDue", timer.IsPastDue).
			Str("after", config.FormatDuration(sum.After)).
			Time("cutoff", sum.Cutoff).
			Str("day", sum.Day).
			Str("queue", sum.Queue).
			Int("listed", tot.Listed).
			Int("eligible", tot.Eligible).
			Int("protected", tot.Protected).
			Int("enqueued", tot.Enqueued).
			Int("pages", tot.Pages).
			Int("retries", tot.Retries).
			Int64("durationMs", took.Milliseconds()).
			Bool("cutShort", sum.Outcome == sweep.CutShort).
			Dict("types", types)
		if !timer.Next.IsZero() {
			ev = ev.Time("scheduleNext", timer.Next)
		}
		if !timer.Last.IsZero() {
			ev = ev.Time("scheduleLast", timer.Last)
		}
		if len(sum.Skipped) > 0 {
			sk := zerolog.Dict()
			for _, t := range sum.Skipped {
				sk = sk.Str(string(t.Type), t.Reason)
			}
			ev = ev.Dict("skippedTypes", sk)
		}
		if sum.DryRun {
			ev = ev.Bool("dryRun", true)
		}
		if sum.StoppedAt != "" {
			ev = ev.Str("stoppedAt", sum.StoppedAt)
		}
		if sum.Outcome == sweep.Failed {
			ev = ev.Str("error", sweepError(sum))
		}
		ev.Msg("sweep " + string(sum.Outcome))
	})
}

func (s *Server) logSweepSkipped(invocationID string, timer funcproto.Timer) string {
	return s.writeLine(func(lg zerolog.Logger) {
		lg.Warn().Time(zerolog.TimestampFieldName, s.clock()).Str("sweep", "skipped").Str("invocationId", invocationID).
			Bool("isPastDue", timer.IsPastDue).Msg("sweep skipped: a run is already in progress in this process")
	})
}
