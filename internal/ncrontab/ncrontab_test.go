package ncrontab

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	cases := []struct {
		expr, from string
		want       []string
	}{
		{"0 0 3 * * *", "2026-11-28T02:59:59Z", []string{"2026-11-28T03:00:00Z", "2026-11-29T03:00:00Z"}},
		{"0 0 3 * * *", "2026-11-28T03:00:00Z", []string{"2026-11-29T03:00:00Z"}}, // strictly after
		{"*/5 * * * * *", "2026-11-28T10:00:03Z", []string{"2026-11-28T10:00:05Z", "2026-11-28T10:00:10Z"}},
		{"0 */5 * * * *", "2026-11-28T10:58:00Z", []string{"2026-11-28T11:00:00Z", "2026-11-28T11:05:00Z"}},
		{"0 30 9 * * 1-5", "2026-11-27T10:00:00Z", []string{"2026-11-30T09:30:00Z", "2026-12-01T09:30:00Z"}}, // Fri → Mon
		{"30 9 * * Mon-Fri", "2026-11-27T10:00:00Z", []string{"2026-11-30T09:30:00Z"}},                       // five fields, names
		{"0 0 0 31 * *", "2026-01-31T00:00:00Z", []string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"}},   // skips short months
		{"0 0 12 29 Feb *", "2026-01-01T00:00:00Z", []string{"2028-02-29T12:00:00Z"}},
		// NCrontab requires the day AND the weekday to match: the first Monday of a month, not every Monday
		// plus the 1st to 7th (what Vixie cron would do).
		{"0 0 8 1-7 * 1", "2026-11-28T00:00:00Z", []string{"2026-12-07T08:00:00Z", "2027-01-04T08:00:00Z"}},
		{"0 0 8 * * Sunday", "2026-11-28T00:00:00Z", []string{"2026-11-29T08:00:00Z"}},
		{"5/20 * * * * *", "2026-11-28T10:00:00Z", []string{"2026-11-28T10:00:05Z", "2026-11-28T10:00:25Z", "2026-11-28T10:00:45Z", "2026-11-28T10:01:05Z"}},
		{"0 0 10-8/2 * * *", "2026-11-28T07:00:00Z", []string{"2026-11-28T08:00:00Z", "2026-11-28T10:00:00Z"}}, // reversed range swapped: 8,10
		{"0,30 0 0 1 1,jul *", "2026-06-01T00:00:00Z", []string{"2026-07-01T00:00:00Z", "2026-07-01T00:00:30Z", "2027-01-01T00:00:00Z"}},
		{"59 59 23 31 12 *", "2026-12-31T23:59:58Z", []string{"2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z"}},
	}
	for _, c := range cases {
		s, err := Parse(c.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		from := at(c.from)
		for _, w := range c.want {
			got := s.Next(from)
			if !got.Equal(at(w)) {
				t.Errorf("%q after %s = %s, want %s", c.expr, from.Format(time.RFC3339), got.Format(time.RFC3339), w)
				break
			}
			from = got
		}
	}
}

func TestNextNeverAndFractions(t *testing.T) {
	s, err := Parse("0 0 0 31 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(at("2026-01-01T00:00:00Z")); !got.IsZero() {
		t.Errorf("31 February occurs at %s", got)
	}
	every, _ := Parse("* * * * * *")
	from := time.Date(2026, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	if got := every.Next(from); !got.Equal(at("2026-01-01T00:00:01Z")) {
		t.Errorf("every second after 00:00:00.5 = %s", got)
	}
	local := time.Date(2026, 1, 1, 4, 0, 0, 0, time.FixedZone("UTC+1", 3600)) // 03:00 UTC
	daily, _ := Parse("0 0 3 * * *")
	if got := daily.Next(local.Add(-time.Second)); !got.Equal(at("2026-01-01T03:00:00Z")) {
		t.Errorf("schedules are UTC: got %s", got)
	}
	if d := daily.Interval(at("2026-01-01T00:00:00Z")); d != 24*time.Hour {
		t.Errorf("interval %s", d)
	}
}

func TestParseRefuses(t *testing.T) {
	for expr, want := range map[string]string{
		"":                       "has 0 fields",
		"0 0 3 * *  * *":         "has 7 fields",
		"0 0 3 * * 7":            "7 is outside 0–6",
		"60 0 3 * * *":           "60 is outside 0–59",
		"0 0 24 * * *":           "outside 0–23",
		"0 0 3 0 * *":            "0 is outside 1–31",
		"0 0 3 * 13 *":           "outside 1–12",
		"0 0 3 * * Funday":       "nor a day of week name",
		"0 0 3 * * */0":          "step",
		"0 0 3 ,1 * *":           "empty list item",
		"0 0 3 * * 1-":           "empty value",
		"0 x 3 * * *":            "not a number from 0 to 59",
		"%PURGE_SWEEP_SCHEDULE%": "has 1 fields",
	} {
		_, err := Parse(expr)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", expr, err, want)
		}
	}
	s, err := Parse("  0  0 3 * * *  ")
	if err != nil || s.String() != "0 0 3 * * *" {
		t.Errorf("white space: %v %q", err, s)
	}
}
