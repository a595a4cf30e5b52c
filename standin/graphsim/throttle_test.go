package graphsim

import (
	"testing"
	"time"
)

// x-ms-throttle-limit-percentage: absent up to 0.8 of the write limit, the used fraction up to 1.0, and
// 1 + the share of recent purges refused once the bucket is empty; never on reads.
func TestThrottleLimitPercentage(t *testing.T) {
	e := newEnv(t, Options{Throttle: ThrottleLimits{Writes: 10, WriteWindow: 100 * time.Second}})
	tok := e.token(roleUserPurge)
	for i := range 20 {
		e.sim.Add(deletedUser(i, time.Hour))
	}
	pct := func(r result) string { return r.header.Get("x-ms-throttle-limit-percentage") }
	purge := func(i int, status int) string {
		t.Helper()
		r := e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(i), tok)
		e.expect(r, status, "")
		return pct(r)
	}
	// The clock stands still: no refill, so each purge uses a tenth of the bucket.
	for i := range 8 {
		if got := purge(i, 204); got != "" {
			t.Errorf("purge %d (%.1f of the limit used): x-ms-throttle-limit-percentage = %q, want none", i, float64(i+1)/10, got)
		}
	}
	if got := purge(8, 204); got != "0.90" {
		t.Errorf("9th of 10 purges: %q, want 0.90", got)
	}
	if r := e.do("GET", "/v1.0/directory/deletedItems/"+guid(15), tok); pct(r) != "" {
		t.Errorf("a read carries %q: the write limit's percentage belongs to writes", pct(r))
	}
	if got := purge(9, 204); got != "1.00" {
		t.Errorf("10th of 10 purges: %q, want 1.00", got)
	}
	// Throttled: 1 of 11 asked refused, then 2 of 12.
	r := e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(10), tok)
	e.expect(r, 429, "TooManyRequests")
	if got := pct(r); got != "1.09" {
		t.Errorf("first 429: %q, want 1.09 (1 + 1/11)", got)
	}
	r = e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(10), tok)
	e.expect(r, 429, "TooManyRequests")
	if got := pct(r); got != "1.17" {
		t.Errorf("second 429: %q, want 1.17 (1 + 2/12)", got)
	}
	// A caller refused over and over reads at most 1.80.
	for range 48 {
		r = e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(10), tok)
	}
	if got := pct(r); got != "1.80" {
		t.Errorf("after 50 refusals of 60 writes: %q, want the cap 1.80", got)
	}
	// A full refill: the bucket is empty of use again, so the next purge says nothing.
	e.clk.Advance(100 * time.Second)
	if got := purge(10, 204); got != "" {
		t.Errorf("first purge after a full refill: %q, want none", got)
	}
	// Scripted answers are not charged and carry no percentage.
	e.sim.Script(guid(11), Step{Method: "DELETE", Status: 503})
	r = e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(11), tok)
	if r.status != 503 {
		t.Fatalf("scripted 503 answered %d", r.status)
	}
	if got := pct(r); got != "" {
		t.Errorf("scripted 503: %q, want none", got)
	}
}
