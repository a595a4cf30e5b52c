package graphsim

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/identity"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

const (
	roleUserPurge = "User.DeleteRestore.All"
	roleAppAll    = "Application.ReadWrite.All"
	roleAppOwned  = "Application.ReadWrite.OwnedBy"
)

// resigned is a copy of a valid token signed with another key.
func (e *env) resigned(key []byte, roles ...string) string {
	e.t.Helper()
	_, c, err := identity.New(identity.Options{Roles: roles, Now: e.clk.Now}).Issue(e.ts.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := identity.Sign(key, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func TestPurgeLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	u := deletedUser(1, time.Hour)
	e.sim.Add(u)
	tok := e.token(roleUserPurge)
	path := "/v1.0/directory/deletedItems/" + u.ID

	r := e.do("GET", path, tok)
	e.expect(r, 200, "")
	want := map[string]any{
		"@odata.context":        e.ts.URL + "/v1.0/$metadata#directoryObjects/$entity",
		"@odata.type":           "#microsoft.graph.user",
		"id":                    u.ID,
		"deletedDateTime":       "2026-06-10T08:30:00Z",
		"displayName":           u.DisplayName,
		"userPrincipalName":     u.UserPrincipalName,
		"onPremisesSyncEnabled": nil,
	}
	for k, v := range want {
		if got, ok := r.body[k]; !ok || got != v {
			t.Errorf("GET body[%q] = %#v, want %#v", k, got, v)
		}
	}

	r = e.do("DELETE", path, tok)
	if r.status != 204 || len(r.raw) != 0 {
		t.Fatalf("DELETE = %d %q, want 204 and no body", r.status, r.raw)
	}
	if !e.sim.Purged(u.ID) {
		t.Error("Purged = false after 204")
	}
	if _, ok := e.sim.Object(u.ID); ok {
		t.Error("Object still present after purge")
	}
	for _, m := range []string{"GET", "DELETE"} {
		r = e.do(m, path, tok)
		e.expect(r, 404, "Request_ResourceNotFound")
		if msg := "Resource '" + u.ID + "' does not exist or one of its queried reference-property objects are not present."; r.errMessage() != msg {
			t.Errorf("%s after purge: message %q", m, r.errMessage())
		}
	}
	var purges int
	for _, rq := range e.sim.RequestsFor(u.ID) {
		if rq.Op == OpPurge && rq.Status == 204 {
			purges++
		}
	}
	if purges != 1 {
		t.Errorf("log shows %d successful purges, want 1", purges)
	}
}

func TestCommonHeadersAndErrorBody(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)

	r := e.do("GET", "/v1.0/directory/deletedItems/"+guid(9), tok)
	e.expect(r, 404, "Request_ResourceNotFound")
	rid := r.header.Get("request-id")
	if _, err := uuid.Parse(rid); err != nil {
		t.Errorf("request-id %q is not a GUID", rid)
	}
	if r.header.Get("client-request-id") != rid {
		t.Errorf("client-request-id %q, want request-id %q when the client sent none", r.header.Get("client-request-id"), rid)
	}
	checks := map[string]string{
		"Content-Type":              "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
		"x-ms-resource-unit":        "1",
		"Strict-Transport-Security": "max-age=31536000",
		"Date":                      "Wed, 10 Jun 2026 09:30:00 GMT",
	}
	for k, v := range checks {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(r.header.Get("x-ms-ags-diagnostic"), `"ServerInfo"`) {
		t.Errorf("x-ms-ags-diagnostic = %q", r.header.Get("x-ms-ags-diagnostic"))
	}
	inner := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["date"] != "2026-06-10T09:30:00" || inner["request-id"] != rid || inner["client-request-id"] != rid {
		t.Errorf("innerError = %v", inner)
	}

	r = e.do("GET", "/v1.0/directory/deletedItems/"+guid(9), tok, "client-request-id", "my-crid-1")
	if r.header.Get("client-request-id") != "my-crid-1" || r.header.Get("request-id") == "my-crid-1" {
		t.Errorf("client-request-id not echoed: %v", r.header)
	}
	inner = r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["client-request-id"] != "my-crid-1" {
		t.Errorf("innerError client-request-id = %v", inner["client-request-id"])
	}
	if log := e.sim.Requests(); log[1].ClientRequestID != "my-crid-1" || log[1].RequestID != r.header.Get("request-id") {
		t.Errorf("log entry %+v", log[1])
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, Options{})
	u := deletedUser(1, time.Hour)
	e.sim.Add(u)
	path := "/v1.0/directory/deletedItems/" + u.ID
	expired := e.token(roleUserPurge)
	e.clk.Advance(identity.TokenLifetime)
	otherKey := e.resigned([]byte("other"), roleUserPurge)
	wrongAud := e.tokenFor(identity.Options{Roles: []string{roleUserPurge}}, "https://management.azure.com")
	graphAud := e.tokenFor(identity.Options{Roles: []string{roleUserPurge}}, "https://graph.microsoft.com")

	for _, tc := range []struct {
		name, auth string
		msg        string
	}{
		{"missing", "", "Access token is empty."},
		{"empty bearer", "Bearer ", "Access token is empty."},
		{"basic", "Basic dXNlcjpwYXNz", "Access token is empty."},
		{"opaque", "Bearer not-a-jwt", "Access token validation failure."},
		{"other key", "Bearer " + otherKey, "Access token validation failure."},
		{"expired", "Bearer " + expired, "Access token has expired or is not yet valid."},
		{"wrong audience", "Bearer " + wrongAud, "Access token validation failure. Invalid audience."},
		{"real Graph's audience", "Bearer " + graphAud, "Access token validation failure. Invalid audience."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			r := e.do("DELETE", path, "", hdr...)
			e.expect(r, 401, "InvalidAuthenticationToken")
			if r.errMessage() != tc.msg {
				t.Errorf("message %q, want %q", r.errMessage(), tc.msg)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if e.sim.Purged(u.ID) {
		t.Fatal("an unauthenticated request purged the object")
	}
	log := e.sim.Requests()
	if log[0].Authorization || !log[1].Authorization || log[1].Roles != nil {
		t.Errorf("log authorization flags: %+v %+v", log[0], log[1])
	}

	// The audience that is accepted: the simulator's own URL.
	for i, aud := range []string{e.ts.URL, e.ts.URL + "/"} {
		e.sim.Add(deletedUser(10+i, time.Hour))
		r := e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(10+i), e.tokenFor(identity.Options{Roles: []string{roleUserPurge}}, aud))
		e.expect(r, 204, "")
	}
}

func TestPermissions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		typ    string
		roles  []string
		method string
		status int
		code   string
	}{
		{"user purge with DeleteRestore", "user", []string{roleUserPurge}, "DELETE", 204, ""},
		{"user purge with User.ReadWrite.All", "user", []string{"User.ReadWrite.All"}, "DELETE", 403, "Authorization_RequestDenied"},
		{"user purge with Directory.ReadWrite.All", "user", []string{"Directory.ReadWrite.All"}, "DELETE", 403, "Authorization_RequestDenied"},
		{"user purge with no roles", "user", nil, "DELETE", 403, "Authorization_RequestDenied"},
		{"user read with User.Read.All", "user", []string{"User.Read.All"}, "GET", 200, ""},
		{"user read with DeleteRestore", "user", []string{roleUserPurge}, "GET", 200, ""},
		{"user read with Directory.Read.All", "user", []string{"Directory.Read.All"}, "GET", 200, ""},
		{"user read with Application.Read.All", "user", []string{"Application.Read.All"}, "GET", 403, "Authorization_RequestDenied"},
		{"app purge with All", "application", []string{roleAppAll}, "DELETE", 204, ""},
		{"app purge with OwnedBy (ownership is not modelled)", "application", []string{roleAppOwned}, "DELETE", 403, "Authorization_RequestDenied"},
		{"app purge with user role", "application", []string{roleUserPurge}, "DELETE", 403, "Authorization_RequestDenied"},
		{"app read with OwnedBy", "application", []string{roleAppOwned}, "GET", 403, "Authorization_RequestDenied"},
		{"app read with Application.Read.All", "application", []string{"Application.Read.All"}, "GET", 200, ""},
		{"sp purge with All", "servicePrincipal", []string{roleAppAll}, "DELETE", 204, ""},
		{"group purge app-only", "group", []string{"Group.ReadWrite.All", "Directory.ReadWrite.All", roleUserPurge}, "DELETE", 403, "Authorization_RequestDenied"},
		{"group read", "group", []string{"Group.Read.All"}, "GET", 200, ""},
		{"group read with user role", "group", []string{"User.Read.All"}, "GET", 403, "Authorization_RequestDenied"},
		{"administrative unit purge", "administrativeUnit", []string{"AdministrativeUnit.ReadWrite.All", "Directory.ReadWrite.All"}, "DELETE", 403, "Authorization_RequestDenied"},
		{"administrative unit read", "administrativeUnit", []string{"Directory.Read.All"}, "GET", 200, ""},
		{"agent identity purge", "agentIdentity", []string{"AgentIdentity.ReadWrite.All"}, "DELETE", 204, ""},
		{"pki purge with documented Read", "certificateBasedAuthPki", []string{"PublicKeyInfrastructure.Read.All"}, "DELETE", 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			id := guid(1)
			e.sim.Add(Object{ID: id, Type: tc.typ, DisplayName: "x", DeletedAt: t0.Add(-time.Hour)})
			r := e.do(tc.method, "/v1.0/directory/deletedItems/"+id, e.token(tc.roles...))
			e.expect(r, tc.status, tc.code)
			if tc.status == 403 && r.errMessage() != "Insufficient privileges to complete the operation." {
				t.Errorf("403 message %q", r.errMessage())
			}
			if tc.method == "DELETE" && e.sim.Purged(id) != (tc.status == 204) {
				t.Errorf("Purged = %v after %d", e.sim.Purged(id), tc.status)
			}
			if tc.method == "GET" && tc.status == 200 && r.body["@odata.type"] != "#microsoft.graph."+tc.typ {
				t.Errorf("@odata.type = %v", r.body["@odata.type"])
			}
		})
	}
}

func TestObjectIdentifiers(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge, "User.ReadWrite.All")
	e.sim.Add(Object{ID: guid(1), Type: "user"}) // active
	e.sim.Add(deletedUser(2, time.Hour))
	for _, tc := range []struct {
		id     string
		status int
		code   string
	}{
		{"not-a-guid", 400, "Request_BadRequest"},
		{"{" + guid(2) + "}", 400, "Request_BadRequest"},
		{strings.ReplaceAll(guid(2), "-", ""), 400, "Request_BadRequest"},
		{"nikos@contoso.example", 400, "Request_BadRequest"},
		{guid(3), 404, "Request_ResourceNotFound"}, // unknown
		{guid(1), 404, "Request_ResourceNotFound"}, // active, not in the bin
		{strings.ToUpper(guid(2)), 204, ""},        // ids are case-insensitive
	} {
		r := e.do("DELETE", "/v1.0/directory/deletedItems/"+tc.id, tok)
		e.expect(r, tc.status, tc.code)
		if tc.status == 400 && r.errMessage() != "Invalid object identifier '"+tc.id+"'." {
			t.Errorf("%s: message %q", tc.id, r.errMessage())
		}
	}
	if !e.sim.Purged(guid(2)) {
		t.Error("upper-case id did not purge")
	}
	if o, ok := e.sim.Object(guid(1)); !ok || !o.DeletedAt.IsZero() {
		t.Errorf("active object changed: %+v %v", o, ok)
	}
	// Routes and methods Graph does not have.
	r := e.do("GET", "/v1.0/directory/deletedItems", tok)
	e.expect(r, 400, "Request_UnsupportedQuery")
	if r.errMessage() != "Searches against this resource are not supported. Only specific instances can be queried." {
		t.Errorf("list without cast: %s", r.raw)
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.contact", tok), 400, "BadRequest")
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.device", tok), 400, "BadRequest") // beta only
	e.expect(e.do("PATCH", "/v1.0/directory/deletedItems/"+guid(2), tok), 405, "Request_BadRequest")
	e.expect(e.do("GET", "/v2.0/directory/deletedItems/"+guid(2), tok), 400, "BadRequest")
	e.expect(e.do("GET", "/beta/directory/deletedItems/"+guid(2), tok), 400, "BadRequest")
	e.expect(e.do("GET", "/v1.0/me", tok), 400, "BadRequest")
	e.expect(e.do("DELETE", "/v1.0/users/"+guid(2), tok), 400, "BadRequest")
	e.expect(e.do("POST", "/v1.0/directory/deletedItems/"+guid(2)+"/restore", tok), 400, "BadRequest")
	// Query options the simulator does not implement are refused, not ignored.
	for _, q := range []string{"$select=id", "$filter=startswith(displayName,'a')", "$expand=owners"} {
		e.expect(e.do("GET", "/v1.0/directory/deletedItems/"+guid(2)+"?"+q, tok), 400, "Request_UnsupportedQuery")
	}
}

func TestReplicationLag(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge, "User.ReadWrite.All")
	byReads := deletedUser(2, 0)
	byReads.LagReads = 2
	e.sim.Add(byReads)

	list := func() []string {
		r := e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", tok)
		var ids []string
		for _, v := range r.body["value"].([]any) {
			ids = append(ids, v.(map[string]any)["id"].(string))
		}
		return ids
	}
	if got := list(); len(got) != 0 {
		t.Errorf("LIST during lag = %v, want none", got)
	}
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+byReads.ID, tok), 404, "Request_ResourceNotFound")
	if got := list(); slices.Contains(got, byReads.ID) {
		t.Error("LIST showed an object with lagged reads left (LIST must not use them up)")
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/"+byReads.ID, tok), 404, "Request_ResourceNotFound")
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+byReads.ID, tok), 204, "")
}

func TestHardDeleteProtection(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	p := deletedUser(1, 24*time.Hour)
	p.HardDeleteProtected = true
	synced := deletedUser(2, time.Hour)
	synced.OnPremisesSyncEnabled = ptr(true)
	e.sim.Add(p, synced)

	r := e.do("DELETE", "/v1.0/directory/deletedItems/"+p.ID, tok)
	e.expect(r, 400, "Request_BadRequest")
	if !strings.Contains(r.errMessage(), "Hard deletion protection") || !strings.Contains(r.errMessage(), "2026-06-16T09:30:00Z") {
		t.Errorf("message %q should name the protection and its end", r.errMessage())
	}
	e.clk.Advance(6*24*time.Hour - time.Second)
	tok = e.token(roleUserPurge) // tokens live an hour
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+p.ID, tok), 400, "Request_BadRequest")
	e.clk.Advance(time.Second)
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+p.ID, tok), 204, "")

	r = e.do("GET", "/v1.0/directory/deletedItems/"+synced.ID, tok)
	if r.body["onPremisesSyncEnabled"] != true {
		t.Errorf("synced user onPremisesSyncEnabled = %v", r.body["onPremisesSyncEnabled"])
	}
}

func TestThrottlingWrites(t *testing.T) {
	e := newEnv(t, Options{Throttle: ThrottleLimits{Writes: 3, WriteWindow: 30 * time.Second}})
	tok := e.token(roleUserPurge)
	for i := range 5 {
		e.sim.Add(deletedUser(i, time.Hour))
	}
	for i := range 3 {
		r := e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(i), tok)
		e.expect(r, 204, "")
	}
	r := e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(3), tok)
	e.expect(r, 429, "TooManyRequests")
	if r.errMessage() != "Please retry again later." {
		t.Errorf("429 message %q", r.errMessage())
	}
	inner := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["code"] != "429" || inner["status"] != "429" || inner["message"] != "Please retry after" {
		t.Errorf("429 innerError = %v", inner)
	}
	for k, v := range map[string]string{
		"Retry-After":               "10",
		"x-ms-throttle-scope":       "Tenant_Application/Write/" + callerApp + "/" + callerTenant,
		"x-ms-throttle-information": "WriteLimitExceeded",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if e.sim.Purged(guid(3)) {
		t.Fatal("throttled DELETE purged")
	}
	// Reads are not writes: a GET still passes.
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/"+guid(4), tok), 200, "")
	e.clk.Advance(9 * time.Second)
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(3), tok), 429, "TooManyRequests")
	e.clk.Advance(time.Second)
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(3), tok), 204, "")

	// The log lets a test check that a retry honoured Retry-After.
	var throttledAt, retriedAt time.Time
	for _, rq := range e.sim.RequestsFor(guid(3)) {
		if rq.Status == 429 && throttledAt.IsZero() {
			throttledAt = rq.Time
		}
		if rq.Status == 204 {
			retriedAt = rq.Time
		}
	}
	if got := retriedAt.Sub(throttledAt); got != 10*time.Second {
		t.Errorf("retry came %v after the first 429", got)
	}
}

func TestThrottlingDefaults(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	for i := range 50 {
		e.sim.Add(deletedUser(i, time.Hour))
		e.expect(e.do("GET", "/v1.0/directory/deletedItems/"+guid(i), tok), 200, "")
		e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(i), tok), 204, "")
	}
}

func TestScriptedFaults(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	u := deletedUser(1, time.Hour)
	e.sim.Add(u)
	path := "/v1.0/directory/deletedItems/" + u.ID
	e.sim.Script(u.ID,
		Step{Method: "DELETE", Status: 503, RetryAfter: "2"},
		Step{Method: "DELETE", Status: 429, RetryAfter: "1.5"},
		Step{Method: "delete", Status: 409},
	)
	// A GET passes the DELETE steps by without using them up.
	e.expect(e.do("GET", path, tok), 200, "")

	r := e.do("DELETE", path, tok)
	e.expect(r, 503, "serviceNotAvailable")
	if r.header.Get("Retry-After") != "2" {
		t.Errorf("503 Retry-After = %q", r.header.Get("Retry-After"))
	}
	r = e.do("DELETE", path, tok)
	e.expect(r, 429, "TooManyRequests")
	if r.header.Get("Retry-After") != "1.5" || r.header.Get("x-ms-throttle-scope") == "" {
		t.Errorf("scripted 429 headers %v", r.header)
	}
	r = e.do("DELETE", path, tok)
	e.expect(r, 409, "Directory_ConcurrencyViolation")
	if r.errMessage() != "Error due to concurrent requests being made to the tenant. Please wait briefly and retry." {
		t.Errorf("409 message %q", r.errMessage())
	}
	e.sim.Script(u.ID, Step{Status: 500, Code: "generalException", Message: "boom"})
	r = e.do("GET", path, tok) // an any-method step takes a GET too
	e.expect(r, 500, "generalException")
	if r.errMessage() != "boom" {
		t.Errorf("500 message %q", r.errMessage())
	}
	if e.sim.Purged(u.ID) {
		t.Fatal("purged by a scripted failure")
	}
	e.expect(e.do("DELETE", path, tok), 204, "")

	var injected int
	for _, rq := range e.sim.RequestsFor(u.ID) {
		if rq.Injected {
			injected++
		}
	}
	if injected != 4 {
		t.Errorf("%d requests marked injected, want 4", injected)
	}
}

func TestAlways(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	e.sim.Add(deletedUser(1, time.Hour), deletedUser(2, time.Hour))
	e.sim.Always(guid(1), Step{Method: "DELETE", Status: 500})
	for range 3 {
		e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(1), tok), 500, "Service_InternalServerError")
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/"+guid(1), tok), 200, "")
	e.sim.ClearFaults(guid(1))
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(1), tok), 204, "")

	// Scripts answer for ids the simulator does not even hold.
	e.sim.Script(guid(7), Step{Status: 503})
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(7), tok), 503, "serviceNotAvailable")
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(7), tok), 404, "Request_ResourceNotFound")
}

func TestDelays(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	e.sim.Add(deletedUser(1, time.Hour), deletedUser(2, time.Hour))

	// A slow DELETE whose client gives up has still taken effect, like a real timeout. The client
	// gives up once the simulator has logged the request, so the test does not depend on timing.
	e.sim.Script(guid(1), Step{Method: "DELETE", Delay: 5 * time.Second})
	req, _ := http.NewRequest("DELETE", e.ts.URL+"/v1.0/directory/deletedItems/"+guid(1), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer cancel()
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if len(e.sim.RequestsFor(guid(1))) > 0 {
				return
			}
		}
	}()
	start := time.Now()
	if resp, err := http.DefaultClient.Do(req.WithContext(ctx)); err == nil {
		resp.Body.Close()
		t.Fatal("expected the client to give up")
	}
	if !e.sim.Purged(guid(1)) {
		t.Error("object not purged although the request reached the simulator")
	}
	e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(1), tok), 404, "Request_ResourceNotFound")
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the delay held the simulator up for %v after the client left", d)
	}
}

func TestRequestLogJSON(t *testing.T) {
	var buf syncio.Buffer
	e := newEnv(t, Options{Log: &buf})
	tok := e.token(roleUserPurge)
	e.sim.Add(deletedUser(1, time.Hour))
	e.do("DELETE", "/v1.0/directory/deletedItems/"+guid(1), tok, "client-request-id", "crid-7")
	e.do("GET", "/v1.0/directory/deletedItems/"+guid(1), "")
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines: %s", len(lines), out)
	}
	for _, want := range []string{`"op":"purge"`, `"status":204`, `"clientRequestId":"crid-7"`, `"roles":["User.DeleteRestore.All"]`, `"authorization":true`, `"objectId":"` + guid(1) + `"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %s lacks %s", lines[0], want)
		}
	}
	if !strings.Contains(lines[1], `"authorization":false`) || !strings.Contains(lines[1], `"code":"InvalidAuthenticationToken"`) {
		t.Errorf("second line %s", lines[1])
	}
	if strings.Contains(out, tok) || strings.Contains(out, "eyJ") {
		t.Error("a token leaked into the log")
	}
}

func TestConcurrentPurges(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	const n = 40
	for i := range n {
		e.sim.Add(deletedUser(i, time.Hour))
	}
	e.sim.Script(guid(0), Step{Method: "DELETE", Status: 503})
	errs := make(chan string, 2*n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range 2 * n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			req, _ := http.NewRequest("DELETE", e.ts.URL+"/v1.0/directory/deletedItems/"+guid(i%n), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 204 && resp.StatusCode != 404 && resp.StatusCode != 503 {
				errs <- resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var ok204 int
	for _, rq := range e.sim.Requests() {
		if rq.Status == 204 {
			ok204++
		}
	}
	if ok204 != n {
		t.Errorf("%d purges succeeded, want exactly %d (one per object)", ok204, n)
	}
}

func TestAnyObjectFaults(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	e.sim.Add(deletedUser(1, time.Hour), deletedUser(2, time.Hour), deletedUser(3, time.Hour))
	path := func(n int) string { return "/v1.0/directory/deletedItems/" + guid(n) }

	// A storm answers every object, after the object's own steps.
	e.sim.Script(guid(1), Step{Method: "GET", Status: 500})
	e.sim.Always(AnyObject, Step{Status: 429, RetryAfter: "2"})
	e.expect(e.do("GET", path(1), tok), 500, "Service_InternalServerError")
	for _, n := range []int{1, 2, 3} {
		r := e.do("DELETE", path(n), tok)
		e.expect(r, 429, "TooManyRequests")
		if r.header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", tok), 200, "") // the LIST is not affected
	e.sim.ClearFaults(AnyObject)
	e.expect(e.do("DELETE", path(2), tok), 204, "")

	// Scripted steps for any object are used up one per request, whichever object it names.
	e.sim.Script(AnyObject, Step{Method: "DELETE", Status: 503}, Step{Method: "DELETE", Delay: 50 * time.Millisecond})
	e.sim.Always(AnyObject, Step{Method: "GET", Status: 500})
	e.sim.ClearAlways(AnyObject) // ends the outage, keeps the scripted steps
	e.expect(e.do("DELETE", path(1), tok), 503, "serviceNotAvailable")
	e.expect(e.do("DELETE", path(3), tok), 204, "")
	e.expect(e.do("DELETE", path(1), tok), 204, "")
	var delays []int64
	for _, rq := range e.sim.Requests() {
		delays = append(delays, rq.DelayMs)
	}
	if want := []int64{0, 0, 0, 0, 0, 0, 0, 50, 0}; !slices.Equal(delays, want) {
		t.Errorf("logged delays %v, want %v", delays, want)
	}
}
