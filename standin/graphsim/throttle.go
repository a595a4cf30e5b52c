package graphsim

import (
	"math"
	"strconv"
	"time"
)

// ThrottleLimits is the identity-and-access write limit of docs/graph.md §4.1, modelled as a token bucket
// per (application, tenant) that refills continuously. Purges are writes; reads are not throttled.
// A zero value takes Graph's documented limit.
type ThrottleLimits struct {
	// Writes per WriteWindow for one (application, tenant) pair. Default 3,000 per 150 s.
	Writes      int
	WriteWindow time.Duration
}

func (l ThrottleLimits) withDefaults() ThrottleLimits {
	if l.Writes <= 0 {
		l.Writes = 3000
	}
	if l.WriteWindow <= 0 {
		l.WriteWindow = 150 * time.Second
	}
	return l
}

// bucket is a token bucket of capacity tokens refilling at capacity per window.
type bucket struct {
	capacity float64
	window   time.Duration
	tokens   float64
	last     time.Time
	// asked and refused count the writes asked for and those throttled, both decaying with a time
	// constant of one window: their ratio is the share of recent writes refused, which
	// x-ms-throttle-limit-percentage reports above 1.0.
	asked, refused float64
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.capacity, b.tokens+d.Seconds()*b.capacity/b.window.Seconds())
		decay := math.Exp(-d.Seconds() / b.window.Seconds())
		b.asked, b.refused = b.asked*decay, b.refused*decay
		b.last = now
	}
}

// chargeWrite takes one write from the caller's bucket, or returns how long until one is available.
// A throttled request is not charged: Graph's "all requests accrue" is not modelled, so that a
// client honouring Retry-After exactly is admitted on its retry. It also returns how much of the limit
// is used, as x-ms-throttle-limit-percentage says it (docs/graph.md §4.2): for an admitted write the used
// fraction of the bucket after the charge (up to 1.0, where throttling starts); for a throttled one 1 +
// the share of the caller's recent writes that were refused (1.2 when a fifth were), at most 1.8.
func (s *Server) chargeWrite(appID, tenantID string, now time.Time) (wait time.Duration, usage float64) {
	key := appID + "/" + tenantID
	b := s.buckets[key]
	if b == nil {
		b = &bucket{capacity: float64(s.limits.Writes), window: s.limits.WriteWindow, tokens: float64(s.limits.Writes), last: now}
		s.buckets[key] = b
	}
	b.refill(now)
	b.asked++
	if b.tokens >= 1 {
		b.tokens--
		return 0, 1 - b.tokens/b.capacity
	}
	b.refused++
	perSecond := b.capacity / b.window.Seconds()
	wait = time.Duration(math.Ceil((1 - b.tokens) / perSecond * float64(time.Second)))
	return wait, math.Min(1.8, 1+b.refused/b.asked)
}

// percentageThreshold is the used fraction of a limit above which Graph sends
// x-ms-throttle-limit-percentage (docs/graph.md §4.2).
const percentageThreshold = 0.8

// setLimitPercentage adds x-ms-throttle-limit-percentage when more than 0.8 of the limit is used.
func setLimitPercentage(resp *response, usage float64) {
	if usage > percentageThreshold {
		resp.header.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(usage, 'f', 2, 64))
	}
}

// formatRetryAfter renders Retry-After in whole seconds, rounded up, at least 1.
func formatRetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// setThrottleScope adds the x-ms-throttle-* headers of a write-limit 429.
func setThrottleScope(resp *response, who *caller) {
	resp.header.Set("x-ms-throttle-scope", "Tenant_Application/Write/"+who.appID+"/"+who.tenantID)
	resp.header.Set("x-ms-throttle-information", "WriteLimitExceeded")
}
