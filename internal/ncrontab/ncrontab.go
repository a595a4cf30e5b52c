// Package ncrontab reads the schedules of Azure Functions timer triggers: NCRONTAB expressions, as the
// NCrontab library the Functions host uses reads them (docs/functions-host.md §7.1). The handler uses it to
// refuse a bad PURGE_SWEEP_SCHEDULE at start-up with one line, instead of letting the host fail to index
// the function; the host stand-in uses it to schedule the timer.
//
// It is written here rather than taken from a cron library because NCrontab's semantics differ from Vixie
// cron's, which the Go cron libraries follow: NCrontab requires both the day of the month and the day of
// the week to match (cron matches either when both are restricted), takes the day of the week 0–6 only
// (Sunday is 0; 7 is an error), and accepts any prefix of an English month or day name ("Mon", "Monday").
//
// Format: six fields {second} {minute} {hour} {day} {month} {day-of-week}, or five without the seconds
// (second 0), separated by spaces. A field is a comma-separated list of items; an item is "*", a value, a
// range "a-b" (reversed ranges are swapped), each optionally followed by "/step"; "a/step" runs from a to
// the field's maximum. Times are UTC.
package ncrontab

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed NCRONTAB expression.
type Schedule struct {
	expr   string
	fields [6]field // second, minute, hour, day, month, day of week
}

// field is the set of values a field allows, as a bit set over 0..63.
type field uint64

func (f field) has(v int) bool { return v >= 0 && v < 64 && f&(1<<uint(v)) != 0 }

// next returns the smallest allowed value >= v, or -1.
func (f field) next(v, max int) int {
	for ; v <= max; v++ {
		if f.has(v) {
			return v
		}
	}
	return -1
}

type kind struct {
	name     string
	min, max int
	names    []string
}

var kinds = [6]kind{
	{"second", 0, 59, nil},
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day", 1, 31, nil},
	{"month", 1, 12, []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}},
	{"day of week", 0, 6, []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}},
}

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("not an NCRONTAB expression")

// Parse reads an expression of six fields (with seconds) or five (without).
func Parse(expr string) (*Schedule, error) {
	parts := strings.Fields(expr)
	s := &Schedule{expr: strings.Join(parts, " ")}
	offset := 0
	switch len(parts) {
	case 6:
	case 5:
		offset = 1
		s.fields[0] = 1 // second 0
	default:
		return nil, fmt.Errorf("%w: %q has %d fields; want 6 ({second} {minute} {hour} {day} {month} {day-of-week}, e.g. \"0 0 3 * * *\") or 5", ErrInvalid, expr, len(parts))
	}
	for i, p := range parts {
		k := kinds[i+offset]
		f, err := parseField(p, k)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %s field %q: %v", ErrInvalid, expr, k.name, p, err)
		}
		s.fields[i+offset] = f
	}
	return s, nil
}

func parseField(s string, k kind) (field, error) {
	var f field
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return 0, errors.New("an empty list item")
		}
		step := 1
		hasStep := false
		if base, st, ok := strings.Cut(item, "/"); ok {
			n, err := strconv.Atoi(st)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q is not a whole number of at least 1", st)
			}
			item, step, hasStep = base, n, true
		}
		var lo, hi int
		switch {
		case item == "*":
			lo, hi = k.min, k.max
		case strings.Contains(item, "-"):
			a, b, _ := strings.Cut(item, "-")
			var err error
			if lo, err = value(a, k); err != nil {
				return 0, err
			}
			if hi, err = value(b, k); err != nil {
				return 0, err
			}
			if lo > hi {
				lo, hi = hi, lo
			}
		default:
			v, err := value(item, k)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep {
				hi = k.max
			}
		}
		for v := lo; v <= hi; v += step {
			f |= 1 << uint(v)
		}
	}
	return f, nil
}

func value(s string, k kind) (int, error) {
	if s == "" {
		return 0, errors.New("an empty value")
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		if n < k.min || n > k.max {
			return 0, fmt.Errorf("%d is outside %d–%d", n, k.min, k.max)
		}
		return n, nil
	}
	for i, name := range k.names {
		if len(s) <= len(name) && strings.EqualFold(name[:len(s)], s) {
			return k.min + i, nil
		}
	}
	if k.names == nil {
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, k.min, k.max)
	}
	return 0, fmt.Errorf("%q is not a number from %d to %d nor a %s name", s, k.min, k.max, k.name)
}

// String is the expression as parsed, white space normalised.
func (s *Schedule) String() string { return s.expr }

// Next returns the first occurrence strictly after t, in UTC (whole seconds). It returns the zero time when
// the schedule never occurs again (for example "0 0 0 31 2 *", 31 February).
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	// A schedule that occurs at all occurs within 28 years: the longest wait is for a 29 February that
	// also falls on a given day of the week.
	limit := t.AddDate(30, 0, 0)
	sec, min, hour, day, month, dow := s.fields[0], s.fields[1], s.fields[2], s.fields[3], s.fields[4], s.fields[5]
	for t.Before(limit) {
		if !month.has(int(t.Month())) {
			t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
			continue
		}
		if !day.has(t.Day()) || !dow.has(int(t.Weekday())) {
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
			continue
		}
		if !hour.has(t.Hour()) {
			h := hour.next(t.Hour(), 23)
			if h < 0 {
				t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
			} else {
				t = time.Date(t.Year(), t.Month(), t.Day(), h, 0, 0, 0, time.UTC)
			}
			continue
		}
		if !min.has(t.Minute()) {
			m := min.next(t.Minute(), 59)
			if m < 0 {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, time.UTC).Add(time.Hour)
			} else {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), m, 0, 0, time.UTC)
			}
			continue
		}
		if !sec.has(t.Second()) {
			sc := sec.next(t.Second(), 59)
			if sc < 0 {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC).Add(time.Minute)
			} else {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), sc, 0, time.UTC)
			}
			continue
		}
		return t
	}
	return time.Time{}
}

// Interval is the shortest gap between two occurrences near t, for deciding whether schedule monitoring
// applies (the host turns it on for schedules whose interval is at least a minute).
func (s *Schedule) Interval(t time.Time) time.Duration {
	a := s.Next(t)
	if a.IsZero() {
		return 0
	}
	b := s.Next(a)
	if b.IsZero() {
		return 0
	}
	return b.Sub(a)
}
