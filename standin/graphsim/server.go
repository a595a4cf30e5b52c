package graphsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/identity"
)

// DefaultAudience is the token audience the simulator accepts by default (the Graph resource).
const DefaultAudience = "https://graph.microsoft.com"

// Options configure a Server. Zero values take the defaults documented on each field.
type Options struct {
	// Now is the simulator's clock (token lifetimes, deletedDateTime, lag, retention, throttling).
	// Default time.Now. Delays (Step.Delay, SetLatency) always use real time.
	Now func() time.Time
	// Audience accepted in tokens besides Graph's app id and the simulator's own URL. Default
	// DefaultAudience.
	Audience string
	// SigningKey verifies tokens (HS256, package identity). Default identity.DevSigningKey.
	SigningKey []byte
	// Throttle sets the token buckets; the zero value is Graph's documented limits.
	Throttle ThrottleLimits
	// Log, when set, receives every Request as a JSON line.
	Log io.Writer
	// BaseURL (e.g. "https://graph.microsoft.com") is used in @odata.context and @odata.nextLink.
	// Default: the scheme and host the request was sent to, so next links lead back here.
	BaseURL string
	// Retention after which a deleted object vanishes. Default 30 days.
	Retention time.Duration
	// ProtectionWindow is the hard-delete protection period after deletedDateTime. Default 7 days.
	ProtectionWindow time.Duration
	// ProtectionStatus and ProtectionCode answer a purge refused by hard-delete protection. The
	// real answer is unknown (graph.md §2.6 [?]); default 400 "Request_BadRequest".
	ProtectionStatus int
	ProtectionCode   string
	// AdministrativeUnitStatus answers a purge of an administrative unit, which the API does not
	// support; the real status is unknown (graph.md §9 [?]). Default 400 Request_BadRequest; 403
	// gives Authorization_RequestDenied.
	AdministrativeUnitStatus int
}

// Server is the Graph simulator, an http.Handler serving the routes of graph.md §9 under /v1.0 and
// /beta. All methods are safe for concurrent use.
type Server struct {
	opts   Options
	limits ThrottleLimits

	mu            sync.Mutex
	objects       map[string]*entry
	faults        faults
	latency       time.Duration
	ruBuckets     map[string]*bucket
	writeBuckets  map[string]*bucket
	tenantBuckets map[string]*bucket
	requests      []Request

	logMu sync.Mutex
}

// New returns an empty simulator.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	if len(opts.SigningKey) == 0 {
		opts.SigningKey = identity.DevSigningKey
	}
	if opts.Retention <= 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.ProtectionWindow <= 0 {
		opts.ProtectionWindow = 7 * 24 * time.Hour
	}
	if opts.ProtectionStatus == 0 {
		opts.ProtectionStatus = http.StatusBadRequest
	}
	if opts.ProtectionCode == "" {
		opts.ProtectionCode = "Request_BadRequest"
	}
	if opts.AdministrativeUnitStatus == 0 {
		opts.AdministrativeUnitStatus = http.StatusBadRequest
	}
	s := &Server{opts: opts, limits: opts.Throttle.withDefaults()}
	s.resetLocked()
	return s
}

func (s *Server) resetLocked() {
	s.objects = map[string]*entry{}
	s.faults = faults{scripts: map[string][]Step{}, always: map[string]Step{}}
	s.latency = 0
	s.ruBuckets, s.writeBuckets, s.tenantBuckets = map[string]*bucket{}, map[string]*bucket{}, map[string]*bucket{}
	s.requests = nil
}

// Reset forgets all objects, faults, latency, throttling state and the request log.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// Add stores objects, replacing any with the same id. An object with DeletedAt set is in the bin
// and its replication lag (Lag, LagReads) starts now. Add panics on an id that is not a GUID or an
// unknown type: fixtures are code, and a typo should fail loudly (ParseSeed validates files).
func (s *Server) Add(objs ...Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	for _, o := range objs {
		o, t, err := normalize(o)
		if err != nil {
			panic(err)
		}
		e := &entry{obj: o, typ: t}
		if !o.DeletedAt.IsZero() {
			e.enterBin(now)
		}
		s.objects[o.ID] = e
	}
}

// SoftDelete moves an active object to the bin with deletedDateTime = now, starting its
// replication lag, as DELETE /users/{id} (etc.) does.
func (s *Server) SoftDelete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.objects[strings.ToLower(id)]
	switch {
	case e == nil || e.purged:
		return fmt.Errorf("graphsim: no object %s", id)
	case !e.obj.DeletedAt.IsZero():
		return fmt.Errorf("graphsim: object %s is already deleted", id)
	}
	s.softDeleteLocked(e, s.opts.Now())
	return nil
}

func (s *Server) softDeleteLocked(e *entry, now time.Time) {
	e.obj.DeletedAt = now.UTC().Truncate(time.Second)
	e.enterBin(now)
}

// Object returns the object as the simulator holds it: DeletedAt zero when active, set when in the
// bin. ok is false when the id is unknown, was purged, or aged out of the bin (Retention).
func (s *Server) Object(id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.objects[strings.ToLower(id)]
	if e == nil || e.purged || s.expired(e, s.opts.Now()) {
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

func (s *Server) expired(e *entry, now time.Time) bool {
	return !e.obj.DeletedAt.IsZero() && now.Sub(e.obj.DeletedAt) > s.opts.Retention
}

// inBin returns the entry for a deleted object that requests with version can see, and whether it
// is still hidden by replication lag. A nil entry means 404.
func (s *Server) inBin(id, version string, now time.Time) (*entry, bool) {
	e := s.objects[id]
	if e == nil || e.purged || e.obj.DeletedAt.IsZero() || s.expired(e, now) || (e.typ.betaOnly && version != "beta") {
		return nil, false
	}
	return e, now.Before(e.lagUntil) || e.lagReads > 0
}

// Operations, as named in the request log.
const (
	OpGet        = "get"        // GET /directory/deletedItems/{id}
	OpPurge      = "purge"      // DELETE /directory/deletedItems/{id}
	OpList       = "list"       // GET /directory/deletedItems/microsoft.graph.{type}
	OpListAll    = "listAll"    // GET /directory/deletedItems (unsupported)
	OpRestore    = "restore"    // POST /directory/deletedItems/{id}/restore
	OpSoftDelete = "softDelete" // DELETE /users/{id}, /groups/{id}, /applications/{id}, /servicePrincipals/{id}
	OpGetActive  = "getActive"  // GET /users/{id} etc.
)

type route struct {
	version string
	op      string
	id      string
	typ     *typeInfo
	err     *response // route not understood
}

func (rt route) deletedItems() bool {
	return rt.op == OpGet || rt.op == OpPurge || rt.op == OpList || rt.op == OpListAll || rt.op == OpRestore
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
	var rt route
	switch v := strings.ToLower(segs[0]); v {
	case "v1.0", "beta":
		rt.version = v
	default:
		return route{err: c.errorResponse(http.StatusBadRequest, "BadRequest", "Invalid version: "+segs[0])}
	}
	rest := segs[1:]
	m := r.Method
	switch {
	case len(rest) >= 2 && strings.EqualFold(rest[0], "directory") && strings.EqualFold(rest[1], "deletedItems"):
		switch len(rest) {
		case 2:
			if m != http.MethodGet {
				return notAllowed
			}
			rt.op = OpListAll
		case 3:
			seg := rest[2]
			if len(seg) > len("microsoft.graph.") && strings.EqualFold(seg[:len("microsoft.graph.")], "microsoft.graph.") {
				t := lookupType(seg)
				if t == nil || (t.betaOnly && rt.version != "beta") {
					return badSegment(seg)
				}
				if m != http.MethodGet {
					return notAllowed
				}
				rt.op, rt.typ = OpList, t
				return rt
			}
			rt.id = seg
			switch m {
			case http.MethodGet:
				rt.op = OpGet
			case http.MethodDelete:
				rt.op = OpPurge
			default:
				return notAllowed
			}
		case 4:
			if !strings.EqualFold(rest[3], "restore") && !strings.EqualFold(rest[3], "microsoft.graph.restore") {
				return badSegment(rest[3])
			}
			if m != http.MethodPost {
				return notAllowed
			}
			rt.op, rt.id = OpRestore, rest[2]
		default:
			return badSegment(rest[4])
		}
	case len(rest) == 2 && lookupEntitySet(rest[0]) != nil:
		rt.typ, rt.id = lookupEntitySet(rest[0]), rest[1]
		switch m {
		case http.MethodGet:
			rt.op = OpGetActive
		case http.MethodDelete:
			rt.op = OpSoftDelete
		default:
			return notAllowed
		}
	case len(rest) == 0:
		return badSegment(segs[0])
	default:
		return badSegment(rest[0])
	}
	return rt
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
	s.mu.Lock()
	delay := s.latency
	s.mu.Unlock()

	rt := parseRoute(r, c)
	rec.Op = rt.op
	who, fail := s.authenticate(r, c)
	if who != nil {
		rec.AppID, rec.Roles = who.appID, append([]string(nil), who.roles...)
	}
	if fail != nil {
		return fail, delay
	}
	if rt.err != nil {
		return rt.err, delay
	}
	if rt.id != "" {
		if !isGUID(rt.id) {
			rec.ObjectID = rt.id
			return c.errorResponse(http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier '"+rt.id+"'."), delay
		}
		rt.id = strings.ToLower(rt.id)
		rec.ObjectID = rt.id
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if rt.deletedItems() {
		if st, ok := s.faults.next(rt.id, r.Method); ok {
			delay += st.Delay
			if st.Status != 0 {
				rec.Injected = true
				return c.stepResponse(st, rt.id, who), delay
			}
		}
	}

	ru, writes := 1, 0
	switch rt.op {
	case OpPurge, OpRestore, OpSoftDelete:
		writes = 1
	case OpListAll:
		ru = 0
	}
	t := s.charge(who.appID, who.tenantID, ru, writes, c.now)
	if t.retryAfter > 0 {
		resp := c.errorResponse(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		resp.header.Set("Retry-After", s.limits.formatRetryAfter(t.retryAfter))
		resp.header.Set("x-ms-throttle-scope", t.kind.scope+"/"+t.kind.limit+"/"+who.appID+"/"+who.tenantID)
		resp.header.Set("x-ms-throttle-information", t.kind.info)
		resp.header.Set("x-ms-throttle-limit-percentage", formatPercentage(t.usage))
		return resp, delay
	}
	resp := s.operate(r, c, rt, who)
	if p := formatPercentage(t.usage); p != "" {
		resp.header.Set("x-ms-throttle-limit-percentage", p)
	}
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
	var resp *response
	switch {
	case st.Bare:
		resp = newResponse(st.Status)
	case st.Body != "":
		resp = newResponse(st.Status)
		resp.body = []byte(st.Body)
		if strings.HasPrefix(strings.TrimSpace(st.Body), "{") {
			resp.header.Set("Content-Type", ContentTypeJSON)
		} else {
			resp.header.Set("Content-Type", "text/html; charset=utf-8")
		}
	case st.Status < 300:
		resp = newResponse(st.Status)
	default:
		resp = c.errorResponse(st.Status, code, msg)
	}
	resp.code = ""
	if !st.Bare && st.Body == "" && st.Status >= 300 {
		resp.code = code
	}
	if st.Status == http.StatusTooManyRequests {
		resp.header.Set("x-ms-throttle-scope", kindRU.scope+"/"+kindRU.limit+"/"+who.appID+"/"+who.tenantID)
		resp.header.Set("x-ms-throttle-information", kindRU.info)
	}
	if st.RetryAfter != "" {
		resp.header.Set("Retry-After", st.RetryAfter)
	}
	for k, v := range st.Header {
		resp.header[http.CanonicalHeaderKey(k)] = v
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
		e, lagged := s.inBin(rt.id, rt.version, c.now)
		if e != nil && lagged {
			if e.lagReads > 0 {
				e.lagReads--
			}
			return nil
		}
		return e
	}
	base := s.base(r) + "/" + rt.version

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
		if !allowed(who.roles, e.typ.read, e.typ.readOwned, who.objectID, e.obj.Owners) {
			return forbidden()
		}
		sel := selectList(r)
		body := e.render(false, sel)
		body["@odata.context"] = base + "/$metadata#directoryObjects" + selectSuffix(sel) + "/$entity"
		return newResponse(http.StatusOK).json(body)

	case OpPurge:
		e := visible()
		if e == nil {
			return notFound()
		}
		switch e.typ.purgeRule {
		case purgeNeverAppOnly:
			return forbidden()
		case purgeUnsupported:
			if s.opts.AdministrativeUnitStatus == http.StatusForbidden {
				return forbidden()
			}
			return c.errorResponse(s.opts.AdministrativeUnitStatus, "Request_BadRequest",
				"Administrative units cannot be permanently deleted by using the deletedItems API.")
		}
		if !allowed(who.roles, e.typ.purge, e.typ.purgeOwned, who.objectID, e.obj.Owners) {
			return forbidden()
		}
		if until := e.protectedUntil(s.opts.ProtectionWindow); c.now.Before(until) {
			return c.errorResponse(s.opts.ProtectionStatus, s.opts.ProtectionCode, fmt.Sprintf(
				"Hard deletion protection is enabled for object '%s'. It cannot be permanently deleted until %s.",
				rt.id, until.UTC().Format(time.RFC3339)))
		}
		e.purged = true
		return newResponse(http.StatusNoContent)

	case OpRestore:
		e := visible()
		if e == nil {
			return notFound()
		}
		if !allowed(who.roles, e.typ.restore, e.typ.restoreOwned, who.objectID, e.obj.Owners) {
			return forbidden()
		}
		var body struct {
			NewUserPrincipalName string `json:"newUserPrincipalName"`
		}
		if b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16)); len(strings.TrimSpace(string(b))) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				return c.errorResponse(http.StatusBadRequest, "BadRequest", "Invalid JSON in the request body.")
			}
		}
		if body.NewUserPrincipalName != "" && e.typ.name == "user" {
			e.obj.UserPrincipalName = body.NewUserPrincipalName
		}
		e.obj.DeletedAt = time.Time{}
		out := e.render(false, nil)
		out["@odata.context"] = base + "/$metadata#directoryObjects/$entity"
		return newResponse(http.StatusOK).json(out)

	case OpSoftDelete, OpGetActive:
		e := s.objects[rt.id]
		if e == nil || e.purged || !e.obj.DeletedAt.IsZero() || e.typ != rt.typ {
			return notFound()
		}
		if rt.op == OpGetActive {
			if !allowed(who.roles, e.typ.read, e.typ.readOwned, who.objectID, e.obj.Owners) {
				return forbidden()
			}
			sel := selectList(r)
			body := e.render(false, sel)
			body["@odata.context"] = base + "/$metadata#" + e.typ.entitySet + selectSuffix(sel) + "/$entity"
			return newResponse(http.StatusOK).json(body)
		}
		if !allowed(who.roles, e.typ.softDelete, e.typ.softDeleteOwned, who.objectID, e.obj.Owners) {
			return forbidden()
		}
		s.softDeleteLocked(e, c.now)
		return newResponse(http.StatusNoContent)
	}
	return c.errorResponse(http.StatusInternalServerError, "Service_InternalServerError", "Encountered an internal server error.")
}

func (s *Server) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	return requestBase(r)
}

// selectList parses $select.
func selectList(r *http.Request) []string {
	v := r.URL.Query().Get("$select")
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func selectSuffix(sel []string) string {
	if len(sel) == 0 {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}
