package funchost

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/ncrontab"
)

// TimerTrigger is a function's timerTrigger binding with %SETTING% references
// resolved (docs/functions-host.md §2.6, §7).
type TimerTrigger struct {
	// Name is the binding name, the key of the TimerInfo in the request's Data.
	Name string
	// Schedule is the NCRONTAB schedule (UTC).
	Schedule *ncrontab.Schedule
	// RunOnStartup invokes the function once when the host starts (unless a past-due
	// run is due, which takes precedence).
	RunOnStartup bool
	// UseMonitor keeps the schedule status (Last, Next) across host runs, so a missed
	// occurrence is invoked at start-up with IsPastDue; default true for schedules of
	// at least a minute between occurrences.
	UseMonitor bool
}

// parseTimer reads a timerTrigger binding. TimeSpan schedules ("01:00:00") are App
// Service-plan only and refused here, like any schedule NCrontab would not read.
func parseTimer(i int, b map[string]any, str func(string) (string, error)) (*TimerTrigger, error) {
	t := &TimerTrigger{}
	var err error
	if t.Name, err = str("name"); err != nil {
		return nil, err
	}
	if t.Name == "" {
		return nil, fmt.Errorf("binding %d: name is required", i)
	}
	if dir, _ := str("direction"); dir != "" && !strings.EqualFold(dir, "in") {
		return nil, fmt.Errorf("binding %d: a timerTrigger has direction \"in\", not %q", i, dir)
	}
	expr, err := str("schedule")
	if err != nil {
		return nil, fmt.Errorf("binding %d: schedule: %w", i, err)
	}
	if expr == "" {
		return nil, fmt.Errorf("binding %d: schedule is required", i)
	}
	if t.Schedule, err = ncrontab.Parse(expr); err != nil {
		return nil, fmt.Errorf("binding %d: schedule: %w (TimeSpan schedules are not supported by this stand-in: they work on App Service plans only)", i, err)
	}
	flag := func(key string, def bool) (bool, error) {
		v, ok := lookupFold(b, key)
		if !ok {
			return def, nil
		}
		raw, _ := json.Marshal(v)
		var c cfgBool
		if err := c.UnmarshalJSON(raw); err != nil {
			return false, fmt.Errorf("binding %d: %s: %w", i, key, err)
		}
		return c.v, nil
	}
	if t.RunOnStartup, err = flag("runOnStartup", false); err != nil {
		return nil, err
	}
	monitorDefault := t.Schedule.Interval(time.Now()) >= time.Minute
	if t.UseMonitor, err = flag("useMonitor", monitorDefault); err != nil {
		return nil, err
	}
	return t, nil
}
