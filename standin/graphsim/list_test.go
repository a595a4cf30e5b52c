package graphsim

import (
	"fmt"
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
	e.sim.Add(deletedUser(1002, 31*24*time.Hour))                   // aged out

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

func TestListAdvancedQueries(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("User.Read.All")
	for i, name := range []string{"Carol", "alice", "Bob"} {
		u := deletedUser(i, time.Duration(3-i)*time.Hour) // Carol deleted first
		u.DisplayName = name
		e.sim.Add(u)
	}
	base := "/v1.0/directory/deletedItems/microsoft.graph.user?"
	eventual := []string{"ConsistencyLevel", "eventual"}
	names := func(r result) []string {
		var out []string
		for _, v := range r.body["value"].([]any) {
			out = append(out, fmt.Sprint(v.(map[string]any)["displayName"]))
		}
		return out
	}

	for _, q := range []string{"$count=true", "$search=%22displayName:bo%22", "$orderby=deletedDateTime", "$count=true&$orderby=deletedDateTime%20desc"} {
		e.expect(e.do("GET", base+q, tok), 400, "Request_UnsupportedQuery")
	}
	// deletedDateTime ordering needs $count=true even with the header.
	e.expect(e.do("GET", base+"$orderby=deletedDateTime", tok, eventual...), 400, "Request_UnsupportedQuery")
	e.expect(e.do("GET", base+"$expand=manager", tok), 400, "Request_UnsupportedQuery")
	e.expect(e.do("GET", base+"$orderby=mail", tok), 400, "Request_UnsupportedQuery")

	r := e.do("GET", base+"$count=true&$orderby=deletedDateTime%20asc&$select=id,displayName,deletedDateTime", tok, eventual...)
	e.expect(r, 200, "")
	if r.body["@odata.count"] != float64(3) || r.body["@odata.context"] != e.ts.URL+"/v1.0/$metadata#users(id,displayName,deletedDateTime)" {
		t.Errorf("count/context: %s", r.raw)
	}
	if got := names(r); !slices.Equal(got, []string{"Carol", "alice", "Bob"}) {
		t.Errorf("deletedDateTime asc = %v", got)
	}
	first := r.body["value"].([]any)[0].(map[string]any)
	if _, ok := first["userPrincipalName"]; ok {
		t.Errorf("$select kept userPrincipalName: %v", first)
	}
	if got := names(e.do("GET", base+"$orderby=displayName", tok)); !slices.Equal(got, []string{"alice", "Bob", "Carol"}) {
		t.Errorf("displayName asc = %v", got)
	}
	if got := names(e.do("GET", base+"$orderby=displayName%20desc&$top=2", tok)); !slices.Equal(got, []string{"Carol", "Bob"}) {
		t.Errorf("displayName desc top 2 = %v", got)
	}
	if got := names(e.do("GET", base+"$search=%22displayName:o%22", tok, eventual...)); len(got) != 2 {
		t.Errorf("$search displayName:o = %v", got)
	}
	for q, want := range map[string][]string{
		"startswith(displayName,'al')":                                     {"alice"},
		"displayName eq 'BOB'":                                             {"Bob"},
		"deletedDateTime lt 2026-06-10T07:00:00Z":                          {"Carol"},
		"deletedDateTime ge 2026-06-10T07:00:00Z and displayName ne 'Bob'": {"alice"},
		"onPremisesSyncEnabled eq null":                                    {"alice", "Bob", "Carol"},
	} {
		r := e.do("GET", base+"$orderby=displayName&$filter="+url.QueryEscape(q), tok)
		e.expect(r, 200, "")
		if got := names(r); !slices.Equal(got, want) {
			t.Errorf("$filter=%s: %v, want %v", q, got, want)
		}
	}
	e.expect(e.do("GET", base+"$filter="+url.QueryEscape("displayName gt 'a'"), tok), 400, "Request_UnsupportedQuery")
	e.expect(e.do("GET", base+"$filter="+url.QueryEscape("any(x)"), tok), 400, "Request_UnsupportedQuery")
}

func TestListPermissions(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.Add(
		Object{ID: guid(1), Type: "application", DisplayName: "mine", Owners: []string{callerOID}, DeletedAt: t0},
		Object{ID: guid(2), Type: "application", DisplayName: "theirs", DeletedAt: t0},
		Object{ID: guid(3), Type: "servicePrincipal", DisplayName: "sp", DeletedAt: t0},
	)
	base := "/v1.0/directory/deletedItems/microsoft.graph."
	e.expect(e.do("GET", base+"application", e.token(roleUserPurge)), 403, "Authorization_RequestDenied")

	r := e.do("GET", base+"application", e.token(roleAppOwned))
	e.expect(r, 200, "")
	vals := r.body["value"].([]any)
	if len(vals) != 2 {
		t.Fatalf("OwnedBy list = %s", r.raw)
	}
	for _, v := range vals {
		m := v.(map[string]any)
		_, hasName := m["displayName"]
		if (m["id"] == guid(1)) != hasName {
			t.Errorf("OwnedBy item %v: only owned objects come back in full", m)
		}
		if m["@odata.type"] != "#microsoft.graph.application" {
			t.Errorf("item type %v", m["@odata.type"])
		}
	}
	r = e.do("GET", base+"servicePrincipal", e.token("Directory.Read.All"))
	if r.body["@odata.context"] != e.ts.URL+"/v1.0/$metadata#servicePrincipals" || len(ids(r)) != 1 {
		t.Errorf("sp list %s", r.raw)
	}
	// Beta-only types list under /beta.
	e.sim.Add(Object{ID: guid(4), Type: "device", DeletedAt: t0})
	r = e.do("GET", "/beta/directory/deletedItems/microsoft.graph.device", e.token("Device.Read.All"))
	if r.status != 200 || len(ids(r)) != 1 {
		t.Errorf("beta device list %d %s", r.status, r.raw)
	}
	e.expect(e.do("GET", "/v1.0/directory/deletedItems/"+guid(4), e.token("Directory.Read.All")), 404, "Request_ResourceNotFound")
}

func TestParseSeed(t *testing.T) {
	now := t0
	objs, err := ParseSeed(strings.NewReader(`[
	 {"id":"8F3C0C55-1F0E-4A43-9D0E-3C2B1A0F9E01","type":"user","displayName":"Leaver","userPrincipalName":"l@contoso.example","deletedAgo":"2h","onPremisesSyncEnabled":true},
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e02","type":"microsoft.graph.application","owners":["00000000-0000-4000-8000-000000000003"],"lag":"30s","lagReads":1,"properties":{"appId":"x"}},
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e03","type":"servicePrincipal","deletedDateTime":"2026-06-01T00:00:00Z","hardDeleteProtected":true},
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e04","type":"user","active":true}
	]`), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 {
		t.Fatalf("%d objects", len(objs))
	}
	if !objs[0].DeletedAt.Equal(now.Add(-2*time.Hour)) || objs[0].OnPremisesSyncEnabled == nil || !*objs[0].OnPremisesSyncEnabled {
		t.Errorf("object 0: %+v", objs[0])
	}
	if objs[1].Lag != 30*time.Second || objs[1].LagReads != 1 || !objs[1].DeletedAt.Equal(now) || objs[1].Properties["appId"] != "x" {
		t.Errorf("object 1: %+v", objs[1])
	}
	if !objs[2].DeletedAt.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) || !objs[2].HardDeleteProtected {
		t.Errorf("object 2: %+v", objs[2])
	}
	if !objs[3].DeletedAt.IsZero() {
		t.Errorf("object 3 should be active: %+v", objs[3])
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
		`[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","active":true,"deletedAgo":"1h"}]`,
		`[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","dispalyName":"typo"}]`,
		`{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01"}`,
	} {
		if _, err := ParseSeed(strings.NewReader(bad), now); err == nil {
			t.Errorf("ParseSeed(%s) accepted", bad)
		}
	}
}
