package graphsim

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func ids(r result) []string {
	var out []string
	for _, v := range r.body["value"].([]any) {
		out = append(out, v.(map[string]any)["id"].(string))
	}
	return out
}

func TestListPaging(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("User.Read.All", roleUserPurge)
	const n = 250
	for i := range n {
		e.sim.Add(deletedUser(i, time.Duration(i)*time.Minute))
	}
	e.sim.Add(Object{ID: guid(1000), Type: "group", DeletedAt: t0}) // other type
	e.sim.Add(Object{ID: guid(1001), Type: "user"})                 // active

	r := e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", tok)
	e.expect(r, 200, "")
	if r.body["@odata.context"] != e.ts.URL+"/v1.0/$metadata#users" {
		t.Errorf("context = %v", r.body["@odata.context"])
	}
	if _, ok := r.body["@odata.count"]; ok {
		t.Error("@odata.count without $count=true")
	}
	var seen []string
	pages := 0
	for {
		pages++
		page := ids(r)
		if pages < 3 && len(page) != 100 {
			t.Fatalf("page %d has %d items, want the default 100", pages, len(page))
		}
		seen = append(seen, page...)
		next, _ := r.body["@odata.nextLink"].(string)
		if next == "" {
			break
		}
		if !strings.HasPrefix(next, e.ts.URL+"/v1.0/directory/deletedItems/microsoft.graph.user?") || !strings.Contains(next, "$skiptoken=") {
			t.Fatalf("nextLink = %s", next)
		}
		r = e.do("GET", next, tok)
		e.expect(r, 200, "")
	}
	if pages != 3 || len(seen) != n {
		t.Fatalf("%d pages, %d items; want 3 and %d", pages, len(seen), n)
	}
	slices.Sort(seen)
	if len(slices.Compact(seen)) != n {
		t.Error("duplicate items across pages")
	}

	// $top bounds.
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user?$top=1000", tok), 400, "Request_BadRequest")
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user?$top=0", tok), 400, "Request_BadRequest")
	if r := e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user?$top=999", tok); len(ids(r)) != n {
		t.Errorf("$top=999 gave %d items", len(ids(r)))
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user?$skiptoken=garbage", tok), 400, "Directory_ExpiredPageToken")
}

func TestListPagingSurvivesPurges(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(roleUserPurge)
	for i := range 30 {
		e.sim.Add(deletedUser(i, time.Hour))
	}
	r := e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user?$top=10", tok)
	var all []string
	for {
		page := ids(r)
		all = append(all, page...)
		for _, id := range page { // purge what was just listed, as a reconciler would
			e.expect(e.do("DELETE", "/v1.0/directory/deletedItems/"+id, tok), 204, "")
		}
		next, _ := r.body["@odata.nextLink"].(string)
		if next == "" {
			break
		}
		r = e.do("GET", next, tok)
	}
	if len(all) != 30 {
		t.Errorf("listed %d of 30 while purging between pages", len(all))
	}
}

func TestListCount(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("User.Read.All")
	for i := range 3 {
		e.sim.Add(deletedUser(i, time.Duration(3-i)*time.Hour))
	}
	base := "/v1.0/directory/deletedItems/microsoft.graph.user?"
	eventual := []string{"ConsistencyLevel", "eventual"}

	e.expect(e.do("GET", base+"$count=true", tok), 400, "Request_UnsupportedQuery")
	e.expect(e.do("GET", base+"$count=maybe", tok, eventual...), 400, "Request_BadRequest")
	r := e.do("GET", base+"$count=true&$top=2", tok, eventual...)
	e.expect(r, 200, "")
	if r.body["@odata.count"] != float64(3) || len(ids(r)) != 2 {
		t.Errorf("count/page: %s", r.raw)
	}
	next, _ := r.body["@odata.nextLink"].(string)
	if !strings.Contains(next, "$count=true") || !strings.Contains(next, "$top=2") {
		t.Errorf("nextLink %q does not keep the query", next)
	}
	// Query options the simulator does not implement are refused rather than ignored.
	for _, q := range []string{"$search=%22displayName:bo%22", "$orderby=deletedDateTime", "$filter=" + url.QueryEscape("displayName eq 'Bob'"), "$expand=manager"} {
		e.expect(e.do("GET", base+q, tok, eventual...), 400, "Request_UnsupportedQuery")
	}
}

// $select keeps the properties named, names them in @odata.context, and refuses a property the type lacks;
// outside a LIST it is still refused rather than ignored.
func TestListSelect(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("User.Read.All", "Application.Read.All")
	e.sim.Add(deletedUser(1, time.Hour), Object{ID: guid(2), Type: "application", DisplayName: "app", DeletedAt: t0})
	r := e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user?$select=id,deletedDateTime&$top=999", tok)
	e.expect(r, 200, "")
	v := r.body["value"].([]any)[0].(map[string]any)
	if len(v) != 2 || v["id"] != guid(1) || v["deletedDateTime"] == nil || r.body["@odata.context"] != e.ts.URL+"/v1.0/$metadata#users(id,deletedDateTime)" {
		t.Errorf("selected %s", r.raw)
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.application?$select=id,userPrincipalName", tok), 400, "Request_BadRequest")
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/"+guid(1)+"?$select=id", tok), 400, "Request_UnsupportedQuery")
}

// Scripted steps for a LIST answer its requests in turn, then it behaves normally again.
func TestScriptList(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("User.Read.All")
	e.sim.Add(deletedUser(1, time.Hour))
	e.sim.ScriptList("user", Step{Status: 429, RetryAfter: "3"})
	r := e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", tok)
	e.expect(r, 429, "TooManyRequests")
	if r.header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.application", e.token("Application.Read.All")), 200, "")
	if r := e.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", tok); r.status != 200 || len(ids(r)) != 1 {
		t.Errorf("after the script: %d %s", r.status, r.raw)
	}
}

func TestListPermissions(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.Add(
		Object{ID: guid(2), Type: "application", DisplayName: "theirs", DeletedAt: t0},
		Object{ID: guid(3), Type: "servicePrincipal", DisplayName: "sp", DeletedAt: t0},
	)
	base := "/v1.0/directory/deletedItems/microsoft.graph."
	e.expect(e.do("GET", base+"application", e.token(roleUserPurge)), 403, "Authorization_RequestDenied")
	r := e.do("GET", base+"application", e.token("Application.Read.All"))
	e.expect(r, 200, "")
	if vals := r.body["value"].([]any); len(vals) != 1 || vals[0].(map[string]any)["@odata.type"] != "#microsoft.graph.application" {
		t.Errorf("application list %s", r.raw)
	}
	r = e.do("GET", base+"servicePrincipal", e.token("Directory.Read.All"))
	if r.body["@odata.context"] != e.ts.URL+"/v1.0/$metadata#servicePrincipals" || len(ids(r)) != 1 {
		t.Errorf("sp list %s", r.raw)
	}
}

func TestParseSeed(t *testing.T) {
	now := t0
	objs, err := ParseSeed(strings.NewReader(`[
	 {"id":"8F3C0C55-1F0E-4A43-9D0E-3C2B1A0F9E01","type":"user","displayName":"Leaver","userPrincipalName":"l@contoso.example","deletedAgo":"2h","onPremisesSyncEnabled":true},
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e02","type":"microsoft.graph.application","lagReads":1},
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e03","type":"servicePrincipal","deletedDateTime":"2026-06-01T00:00:00Z","hardDeleteProtected":true}
	]`), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("%d objects", len(objs))
	}
	if !objs[0].DeletedAt.Equal(now.Add(-2*time.Hour)) || objs[0].OnPremisesSyncEnabled == nil || !*objs[0].OnPremisesSyncEnabled {
		t.Errorf("object 0: %+v", objs[0])
	}
	if objs[1].LagReads != 1 || !objs[1].DeletedAt.Equal(now) {
		t.Errorf("object 1: %+v", objs[1])
	}
	if !objs[2].DeletedAt.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) || !objs[2].HardDeleteProtected {
		t.Errorf("object 2: %+v", objs[2])
	}
	e := newEnv(t, Options{})
	e.sim.Add(objs...)
	if o, ok := e.sim.Object("8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01"); !ok || o.Type != "user" {
		t.Errorf("seeded object: %+v %v", o, ok)
	}

	for _, bad := range []string{
		`[{"id":"nope","type":"user"}]`,
		`[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"contact"}]`,
		`[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","deletedAgo":"yesterday"}]`,
		`[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","deletedDateTime":"2026-06-01T00:00:00Z","deletedAgo":"1h"}]`,
		`[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","active":true}]`,
		`[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","dispalyName":"typo"}]`,
		`{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01"}`,
	} {
		if _, err := ParseSeed(strings.NewReader(bad), now); err == nil {
			t.Errorf("ParseSeed(%s) accepted", bad)
		}
	}
}
