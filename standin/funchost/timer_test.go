package funchost

import (
	"strings"
	"testing"
	"time"
)

// timerApp is an app whose purge function is disabled, so only the timer runs (no broker needed).
func timerApp(t *testing.T, timer map[string]any, settings map[string]string) string {
	t.Helper()
	values := map[string]string{"AzureWebJobs_purge_Disabled": "true"}
	for k, v := range settings {
		values[k] = v
	}
	return makeApp(t, appSpec{timer: timer, settings: values})
}

// firstInvocationLine waits for the fake handler's first invocation line: its stdout is copied through a
// pipe, so the line can trail the answer the host already reported.
func firstInvocationLine(t *testing.T, hs *harness) map[string]any {
	t.Helper()
	waitFor(t, 5*time.Second, "the handler's invocation line", func() bool { return len(hs.stdout.events("invocation")) > 0 })
	return hs.stdout.events("invocation")[0]
}

func timerInfo(t *testing.T, ev map[string]any) (map[string]any, map[string]any) {
	t.Helper()
	timer, ok := ev["timer"].(map[string]any)
	if !ok {
		t.Fatalf("invocation without a TimerInfo: %v", ev)
	}
	status, _ := timer["ScheduleStatus"].(map[string]any)
	return timer, status
}

// The timer fires on its schedule, one run at a time: the next occurrence is scheduled only after the run
// ended, so a run longer than the interval is never overlapped. A schedule of seconds has no monitor.
func TestTimerRunsOneAtATime(t *testing.T) {
	root := timerApp(t, map[string]any{"schedule": "%SWEEP_SCHEDULE%"}, map[string]string{"SWEEP_SCHEDULE": "* * * * * *", "FAKE_TIMER_CMD": "sleep 1200ms"})
	hs := newHarness(t, root, nil)
	hs.start()
	first := hs.next(10 * time.Second)
	second := hs.next(10 * time.Second)
	for _, inv := range []Invocation{first, second} {
		if inv.Function != "sweep" || inv.Outcome != OutcomeSuccess || inv.TimerPastDue || inv.Settlement != "" || inv.Duration < 1200*time.Millisecond {
			t.Errorf("invocation %+v", inv)
		}
	}
	waitFor(t, 5*time.Second, "the handler's invocation lines", func() bool { return len(hs.stdout.events("invocation")) >= 2 })
	evs := hs.stdout.events("invocation")
	for _, ev := range evs {
		if ev["inFlight"] != 1.0 || ev["path"] != "/sweep" {
			t.Errorf("overlapping or misrouted run: %v", ev)
		}
		timer, status := timerInfo(t, ev)
		if timer["IsPastDue"] != false || status != nil || timer["ScheduleStatus"] != nil {
			t.Errorf("timer %v (a schedule of seconds runs without a monitor: ScheduleStatus null)", timer)
		}
		if s, _ := timer["Schedule"].(map[string]any); s["AdjustForDST"] != true {
			t.Errorf("Schedule %v", timer["Schedule"])
		}
	}
	if st := hs.h.Stats(); st.TimerRuns < 2 || st.Completed != 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(hs.log.buf.String(), "Function 'purge' is disabled") {
		t.Error("the disabled purge function was not reported")
	}
}

// An occurrence missed while no host ran is invoked once at start-up, past due, with the recorded status;
// afterwards the status records that run and the next occurrence.
func TestTimerPastDueOnStart(t *testing.T) {
	dir := t.TempDir()
	last := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	missed := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	if err := WriteTimerStatus(dir, "sweep", TimerStatus{Last: last, Next: missed, LastUpdated: last.Add(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	root := timerApp(t, map[string]any{"schedule": "0 0 3 * * *", "runOnStartup": true}, nil)
	hs := newHarness(t, root, func(o *Options) { o.TimerStatusDir = dir })
	hs.start()
	inv := hs.next(10 * time.Second)
	if !inv.TimerPastDue || inv.Outcome != OutcomeSuccess {
		t.Fatalf("invocation %+v", inv)
	}
	timer, status := timerInfo(t, firstInvocationLine(t, hs))
	if timer["IsPastDue"] != true || status["Last"] != "2026-11-26T03:00:00+00:00" || status["Next"] != "2026-11-27T03:00:00+00:00" ||
		status["LastUpdated"] != "2026-11-26T03:00:05+00:00" {
		t.Errorf("timer %v", timer)
	}
	var st *TimerStatus
	waitFor(t, 5*time.Second, "the status to be recorded", func() bool {
		s, _ := hs.h.loadTimerStatus(&Function{Name: "sweep"})
		st = s
		return s != nil && s.Last.Equal(missed)
	})
	if want := time.Now().UTC().Truncate(24 * time.Hour).Add(3 * time.Hour); !st.Next.Equal(want) && !st.Next.Equal(want.Add(24*time.Hour)) {
		t.Errorf("next %s", st.Next)
	}
	// Past due takes precedence over runOnStartup: one start-up run only.
	if n := hs.h.Stats().TimerRuns; n != 1 {
		t.Errorf("%d runs", n)
	}
}

// runOnStartup without a missed occurrence runs once, not past due, with a first-run status (Last
// DateTime.MinValue); a disabled timer never runs.
func TestTimerRunOnStartupAndDisabled(t *testing.T) {
	root := timerApp(t, map[string]any{"schedule": "0 0 3 * * *", "runOnStartup": true}, nil)
	hs := newHarness(t, root, nil)
	hs.start()
	inv := hs.next(10 * time.Second)
	timer, status := timerInfo(t, firstInvocationLine(t, hs))
	if inv.TimerPastDue || timer["IsPastDue"] != false || status["Last"] != "0001-01-01T00:00:00" || !strings.HasSuffix(status["Next"].(string), "T03:00:00+00:00") {
		t.Errorf("invocation %+v timer %v", inv, timer)
	}

	disabled := timerApp(t, map[string]any{"schedule": "* * * * * *", "runOnStartup": true}, map[string]string{"AzureWebJobs.sweep.Disabled": "True"})
	hd := newHarness(t, disabled, nil)
	hd.start()
	waitFor(t, 5*time.Second, "the host to report the timer disabled", func() bool {
		return strings.Contains(hd.log.buf.String(), "Function 'sweep' is disabled")
	})
	if err := hd.h.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := hd.h.Stats().TimerRuns; n != 0 {
		t.Errorf("a disabled timer ran %d times", n)
	}
}

func TestTimerConfig(t *testing.T) {
	for _, tc := range []struct {
		binding  map[string]any
		settings map[string]string
		want     string
	}{
		{map[string]any{"schedule": "0 0 3 * *  * *"}, nil, "has 7 fields"},
		{map[string]any{"schedule": "01:00:00"}, nil, "TimeSpan schedules are not supported"},
		{map[string]any{"schedule": "%MISSING%"}, nil, "'%MISSING%' does not resolve"},
		{map[string]any{}, nil, "schedule is required"},
		{map[string]any{"schedule": "0 0 3 * * *", "runOnStartup": "sometimes"}, nil, "runOnStartup"},
		{map[string]any{"schedule": "0 0 3 * * *", "direction": "out"}, nil, "direction"},
	} {
		root := makeApp(t, appSpec{timer: tc.binding, settings: tc.settings})
		_, err := New(Options{AppRoot: root})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.binding, err)
		}
	}
	root := makeApp(t, appSpec{timer: map[string]any{"schedule": "0 */5 * * * *"}})
	h, err := New(Options{AppRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range h.app.functions {
		if fn.Name == "sweep" && (fn.Timer == nil || !fn.Timer.UseMonitor || fn.Timer.RunOnStartup || fn.Timer.Name != "timer" || fn.Disabled) {
			t.Errorf("timer %+v", fn.Timer)
		}
	}
	for settings, want := range map[string]bool{"AzureWebJobs.sweep.Disabled=true": true, "AzureWebJobs_sweep_Disabled=1": true, "azurewebjobs_SWEEP_disabled=TRUE": true,
		"AzureWebJobs_sweep_Disabled=false": false, "AzureWebJobs_sweep_Disabled=yes": false, "AzureWebJobs__sweep__Disabled=true": false} {
		k, v, _ := strings.Cut(settings, "=")
		if got := disabledBySetting("sweep", map[string]string{k: v}, nil); got != want {
			t.Errorf("%s: disabled %v", settings, got)
		}
	}
	if !disabledBySetting("sweep", nil, []string{"AzureWebJobs_sweep_Disabled=true"}) {
		t.Error("the environment is not read")
	}
}

// The timer request, byte for byte (docs/functions-host.md §4.6).
func TestBuildTimerInvocationBody(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 0, 0, 123_456_700, time.UTC)
	got := string(BuildTimerInvocationBody("sweep", "timer", &TimerStatus{Next: time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC), LastUpdated: now}, false, now, "r"))
	want := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2026-11-28T03:00:00+00:00","LastUpdated":"2026-11-28T03:00:00.1234567+00:00"},"IsPastDue":false}},` +
		`"Metadata":{"sys":{"MethodName":"sweep","UtcNow":"2026-11-28T03:00:00.1234567Z","RandGuid":"r"}}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(BuildTimerInvocationBody("sweep", "timer", nil, true, now, "r")); !strings.Contains(got, `"ScheduleStatus":null,"IsPastDue":true`) {
		t.Errorf("no monitor: %s", got)
	}
}
