package graphsim

import (
	"math"
	"strconv"
	"time"
)

// ThrottleLimits are the identity-and-access service limits of graph.md §4.1, modelled as token
// buckets that refill continuously. A zero count or window takes the default; a negative count
// switches that bucket off.
type ThrottleLimits struct {
	// ResourceUnits per ResourceUnitWindow for one (application, tenant) pair. Default 3,500 per
	// 10 s (a small tenant; 5,000 and 8,000 are the M and L sizes).
	ResourceUnits      int
	ResourceUnitWindow time.Duration
	// Writes per WriteWindow for one (application, tenant) pair. Default 3,000 per 150 s.
	Writes      int
	WriteWindow time.Duration
	// TenantWrites per TenantWriteWindow for a tenant, all applications together. Default 18,000
	// per 5 min.
	TenantWrites      int
	TenantWriteWindow time.Duration
	// FractionalRetryAfter gives Retry-After with millisecond precision ("2.128", as Graph sometimes
	// does); otherwise whole seconds rounded up, at least 1.
	FractionalRetryAfter bool
	// Disabled turns throttling off altogether.
	Disabled bool
}

func (l ThrottleLimits) withDefaults() ThrottleLimits {
	def := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	defW := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ResourceUnits, 3500)
	defW(&l.ResourceUnitWindow, 10*time.Second)
	def(&l.Writes, 3000)
	defW(&l.WriteWindow, 150*time.Second)
	def(&l.TenantWrites, 18000)
	defW(&l.TenantWriteWindow, 5*time.Minute)
	return l
}

// bucket is a token bucket of capacity tokens refilling at capacity per window.
type bucket struct {
	capacity float64
	window   time.Duration
	tokens   float64
	last     time.Time
}

func newBucket(n int, window time.Duration, now time.Time) *bucket {
	return &bucket{capacity: float64(n), window: window, tokens: float64(n), last: now}
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.capacity, b.tokens+d.Seconds()*b.capacity/b.window.Seconds())
		b.last = now
	}
}

// wait is how long until cost tokens are available (0 when they are).
func (b *bucket) wait(cost float64, now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= cost {
		return 0
	}
	perSecond := b.capacity / b.window.Seconds()
	return time.Duration(math.Ceil((cost - b.tokens) / perSecond * float64(time.Second)))
}

func (b *bucket) usage() float64 { return 1 - b.tokens/b.capacity }

// throttleKind names the three limits for the x-ms-throttle-* headers.
type throttleKind struct {
	scope, limit, info string
}

var (
	kindRU          = throttleKind{"Tenant_Application", "ReadWrite", "ResourceUnitLimitExceeded"}
	kindWrite       = throttleKind{"Tenant_Application", "Write", "WriteLimitExceeded"}
	kindTenantWrite = throttleKind{"Tenant", "Write", "WriteLimitExceeded"}
)

// throttleResult is the outcome of charging a request.
type throttleResult struct {
	retryAfter time.Duration // > 0: throttled
	kind       throttleKind
	usage      float64 // highest bucket usage after the charge (for x-ms-throttle-limit-percentage)
}

// charge takes ru resource units and writes write units from the caller's buckets, all or nothing.
// A throttled request is not charged: Graph's "all requests accrue" is not modelled, so that a
// client honouring Retry-After exactly is admitted on its retry.
func (s *Server) charge(appID, tenantID string, ru, writes int, now time.Time) throttleResult {
	l := s.limits
	if l.Disabled {
		return throttleResult{}
	}
	type use struct {
		b    *bucket
		cost float64
		kind throttleKind
	}
	var uses []use
	get := func(m map[string]*bucket, key string, n int, w time.Duration) *bucket {
		b := m[key]
		if b == nil {
			b = newBucket(n, w, now)
			m[key] = b
		}
		return b
	}
	pair := appID + "/" + tenantID
	if l.ResourceUnits > 0 && ru > 0 {
		uses = append(uses, use{get(s.ruBuckets, pair, l.ResourceUnits, l.ResourceUnitWindow), float64(ru), kindRU})
	}
	if writes > 0 && l.Writes > 0 {
		uses = append(uses, use{get(s.writeBuckets, pair, l.Writes, l.WriteWindow), float64(writes), kindWrite})
	}
	if writes > 0 && l.TenantWrites > 0 {
		uses = append(uses, use{get(s.tenantBuckets, tenantID, l.TenantWrites, l.TenantWriteWindow), float64(writes), kindTenantWrite})
	}
	var res throttleResult
	for _, u := range uses {
		if w := u.b.wait(u.cost, now); w > res.retryAfter {
			res.retryAfter, res.kind = w, u.kind
		}
	}
	if res.retryAfter > 0 {
		res.usage = 1
		return res
	}
	for _, u := range uses {
		u.b.tokens -= u.cost
		res.usage = math.Max(res.usage, u.b.usage())
	}
	return res
}

func (l ThrottleLimits) formatRetryAfter(d time.Duration) string {
	if l.FractionalRetryAfter {
		return strconv.FormatFloat(math.Max(d.Seconds(), 0.001), 'f', 3, 64)
	}
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// formatPercentage renders x-ms-throttle-limit-percentage, sent only above 0.8 (graph.md §4.2).
func formatPercentage(u float64) string {
	if u <= 0.8 {
		return ""
	}
	return strconv.FormatFloat(math.Min(u, 1.8), 'f', 2, 64)
}
