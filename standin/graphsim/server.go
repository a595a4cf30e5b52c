package graphsim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ProtectionWindow is how long after deletedDateTime hard-delete protection refuses a purge.
const ProtectionWindow = 7 * 24 * time.Hour

// Options configure a Server. Zero values take the defaults documented on each field.
type Options struct {
	// Now is the simulator's clock (token lifetimes, deletedDateTime, hard-delete protection,
	// throttling). Default time.Now. Step.Delay always uses real time.
	Now func() time.Time
	// Throttle sets the write token bucket; the zero value is Graph's documented limit.
	Throttle ThrottleLimits
	// Log, when set, receives every Request as a JSON line.
	Log io.Writer
}

// Server is the Graph simulator, an http.Handler serving the deletedItems routes under /v1.0. All
// methods are safe for concurrent use.
type Server struct {
	opts   Options
	limits ThrottleLimits

	mu       sync.Mutex
	objects  map[string]*entry
	faults   faults
	buckets  map[string]*bucket // write buckets per app+tenant
	requests []Request

	logMu sync.Mutex
}

// New returns an empty simulator.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{
		opts:    opts,
		limits:  opts.Throttle.withDefaults(),
		objects: map[string]*entry{},
		faults:  faults{scripts: map[string][]Step{}, always: map[string]Step{}},
		buckets: map[string]*bucket{},
	}
}

// Add stores objects, replacing any with the same id. An object with DeletedAt set is in the bin
// (its LagReads count from now); one without is active, which the deletedItems routes do not see.
// Add panics on an id that is not a GUID or an unknown type: fixtures are code, and a typo should
// fail loudly (ParseSeed validates files).
func (s *Server) Add(objs ...Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range objs {
		o, t, err := normalize(o)
		if err != nil {
			panic(err)
		}
		s.objects[o.ID] = &entry{obj: o, typ: t, lagReads: o.LagReads}
	}
}

// Object returns the object as the simulator holds it: DeletedAt zero when active, set when in the
// bin. ok is false when the id is unknown or was purged.
func (s *Server) Object(id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.objects[strings.ToLower(id)]
	if e == nil || e.purged {
		return Object{}, false
	}
	return e.obj.clone(), true
}

// Purged reports whether a DELETE /directory/deletedItems/{id} succeeded for id.
func (s *Server) Purged(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.objects[strings.ToLower(id)]
	return e != nil && e.purged
}

// inBin returns the entry for a deleted object, and whether it is still hidden by replication lag.
// A nil entry means 404.
func (s *Server) inBin(id string) (*entry, bool) {
	e := s.objects[id]
	if e == nil || e.purged || e.obj.DeletedAt.IsZero() {
		return nil, false
	}
	return e, e.lagReads > 0
}

// Operations, as named in the request log.
const (
	OpGet     = "get"     // GET /directory/deletedItems/{id}
	OpPurge   = "purge"   // DELETE /directory/deletedItems/{id}
	OpList    = "list"    // GET /directory/deletedItems/microsoft.graph.{type}
	OpListAll = "listAll" // GET /directory/deletedItems (unsupported)
)

type route struct {
	op  string
	id  string
	typ *typeInfo
	err *response // route not understood
}

// parseRoute maps a path onto an operation. Segment names are matched case-insensitively, as Graph
// does; segments are unescaped one by one so that an encoded "/" stays inside an id.
func parseRoute(r *http.Request, c *rc) route {
	var segs []string
	for _, raw := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		s, err := url.PathUnescape(raw)
		if err != nil {
			s = raw
		}
		segs = append(segs, s)
	}
	badSegment := func(seg string) route {
		return route{err: c.errorResponse(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg+"'.")}
	}
	notAllowed := route{err: c.errorResponse(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")}
	if !strings.EqualFold(segs[0], "v1.0") {
		return route{err: c.errorResponse(http.StatusBadRequest, "BadRequest", "Invalid version: "+segs[0])}
	}
	rest := segs[1:]
	switch {
	case len(rest) == 0:
		return badSegment(segs[0])
	case len(rest) < 2 || !strings.EqualFold(rest[0], "directory") || !strings.EqualFold(rest[1], "deletedItems"):
		return badSegment(rest[0])
	case len(rest) > 3:
		return badSegment(rest[3])
	}
	m := r.Method
	if len(rest) == 2 {
		if m != http.MethodGet {
			return notAllowed
		}
		return route{op: OpListAll}
	}
	seg := rest[2]
	if len(seg) > len("microsoft.graph.") && strings.EqualFold(seg[:len("microsoft.graph.")], "microsoft.graph.") {
		t := lookupType(seg)
		if t == nil {
			return badSegment(seg)
		}
		if m != http.MethodGet {
			return notAllowed
		}
		return route{op: OpList, typ: t}
	}
	switch m {
	case http.MethodGet:
		return route{op: OpGet, id: seg}
	case http.MethodDelete:
		return route{op: OpPurge, id: seg}
	}
	return notAllowed
}

// ServeHTTP answers one request. The order of checks is: route → token (401) → object id syntax
// (400) → scripted faults → throttling (429) → the operation (404, 403, 400, success).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &rc{now: s.opts.Now(), requestID: uuid.NewString(), clientRequestID: r.Header.Get("client-request-id")}
	if c.clientRequestID == "" {
		c.clientRequestID = c.requestID
	}
	rec := Request{
		Time: c.now, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		RequestID: c.requestID, ClientRequestID: c.clientRequestID, Authorization: r.Header.Get("Authorization") != "",
	}
	resp, delay := s.handle(r, c, &rec)
	rec.Status, rec.Code, rec.RetryAfter = resp.status, resp.code, resp.header.Get("Retry-After")
	rec.DelayMs = delay.Milliseconds()
	s.record(rec)
	if delay > 0 {
		sleep(r.Context(), delay)
	}
	c.write(w, resp)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Server) handle(r *http.Request, c *rc, rec *Request) (*response, time.Duration) {
	rt := parseRoute(r, c)
	rec.Op = rt.op
	who, fail := s.authenticate(r, c)
	if who != nil {
		rec.AppID, rec.Roles = who.appID, append([]string(nil), who.roles...)
	}
	if fail != nil {
		return fail, 0
	}
	if rt.err != nil {
		return rt.err, 0
	}
	if rt.id != "" {
		if !isGUID(rt.id) {
			rec.ObjectID = rt.id
			return c.errorResponse(http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier '"+rt.id+"'."), 0
		}
		rt.id = strings.ToLower(rt.id)
		rec.ObjectID = rt.id
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var delay time.Duration
	faultKey := rt.id
	if rt.op == OpList {
		faultKey = listFaultKey(rt.typ)
	}
	if st, ok := s.faults.next(faultKey, r.Method); ok {
		delay = st.Delay
		if st.Status != 0 {
			rec.Injected = true
			return c.stepResponse(st, rt.id, who), delay
		}
	}
	var usage float64 // of the write limit, for x-ms-throttle-limit-percentage; reads carry none
	if rt.op == OpPurge {
		wait, u := s.chargeWrite(who.appID, who.tenantID, c.now)
		if wait > 0 {
			resp := c.errorResponse(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
			resp.header.Set("Retry-After", formatRetryAfter(wait))
			setThrottleScope(resp, who)
			setLimitPercentage(resp, u)
			return resp, delay
		}
		usage = u
	}
	resp := s.operate(r, c, rt, who)
	setLimitPercentage(resp, usage)
	return resp, delay
}

// stepResponse renders a scripted answer.
func (c *rc) stepResponse(st Step, id string, who *caller) *response {
	code, msg := defaultError(st.Status, id)
	if st.Code != "" {
		code = st.Code
	}
	if st.Message != "" {
		msg = st.Message
	}
	resp := newResponse(st.Status)
	if st.Status >= 300 {
		resp = c.errorResponse(st.Status, code, msg)
	}
	if st.Status == http.StatusTooManyRequests {
		setThrottleScope(resp, who)
	}
	if st.RetryAfter != "" {
		resp.header.Set("Retry-After", st.RetryAfter)
	}
	return resp
}

// operate performs the operation; s.mu is held.
func (s *Server) operate(r *http.Request, c *rc, rt route, who *caller) *response {
	notFound := func() *response {
		return c.errorResponse(http.StatusNotFound, "Request_ResourceNotFound", notFoundMessage(rt.id))
	}
	forbidden := func() *response {
		return c.errorResponse(http.StatusForbidden, "Authorization_RequestDenied", msgForbidden)
	}
	// visible finds the bin entry, using up one lagged read if the object is still replicating.
	visible := func() *entry {
		e, lagged := s.inBin(rt.id)
		if e != nil && lagged {
			e.lagReads--
			return nil
		}
		return e
	}
	base := requestBase(r) + "/v1.0"
	if q := unsupportedQuery(r, rt.op); q != "" {
		return c.errorResponse(http.StatusBadRequest, "Request_UnsupportedQuery", q+" is not supported by the Graph simulator.")
	}

	switch rt.op {
	case OpListAll:
		return c.errorResponse(http.StatusBadRequest, "Request_UnsupportedQuery", msgUnsupportedAll)

	case OpList:
		return s.list(r, c, rt, who, base)

	case OpGet:
		e := visible()
		if e == nil {
			return notFound()
		}
		if !hasAny(who.roles, e.typ.read) {
			return forbidden()
		}
		body := e.render()
		body["@odata.context"] = base + "/$metadata#directoryObjects/$entity"
		return newResponse(http.StatusOK).json(body)

	case OpPurge:
		e := visible()
		if e == nil {
			return notFound()
		}
		if e.typ.neverPurgeable || !hasAny(who.roles, e.typ.purge) {
			return forbidden()
		}
		if until := e.protectedUntil(); c.now.Before(until) {
			return c.errorResponse(http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf(
				"Hard deletion protection is enabled for object '%s'. It cannot be permanently deleted until %s.",
				rt.id, until.UTC().Format(time.RFC3339)))
		}
		e.purged = true
		return newResponse(http.StatusNoContent)
	}
	return c.errorResponse(http.StatusInternalServerError, "Service_InternalServerError", "Encountered an internal server error.")
}

// unsupportedQuery names the first OData query option the simulator does not implement ($top,
// $skiptoken, $count and, on a LIST, $select are the ones it does), so that a client relying on one is
// told instead of getting an answer that silently ignores it.
func unsupportedQuery(r *http.Request, op string) string {
	for _, k := range []string{"$select", "$filter", "$search", "$orderby", "$expand"} {
		if k == "$select" && op == OpList {
			continue
		}
		if r.URL.Query().Has(k) {
			return k
		}
	}
	return ""
}
