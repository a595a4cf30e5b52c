package graphsim

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// list answers GET /directory/deletedItems/microsoft.graph.{type}: the objects of one type in the
// bin, in id order, $top (1–999, default 100) per page, with an @odata.nextLink while more remain,
// and @odata.count with $count=true (which needs ConsistencyLevel: eventual, as in Graph).
//
// The $skiptoken is the id of the last object of the previous page, not a position, so that a client
// purging what it has just listed does not skip objects on the next page.
//
// $select keeps only the properties named (Graph's minimal metadata then omits @odata.type, the members
// being of the cast's type, and names the properties in @odata.context); a property the type does not
// have is a 400, as in Graph.
func (s *Server) list(r *http.Request, c *rc, rt route, who *caller, base string) *response {
	vals := r.URL.Query()
	bad := func(code, msg string) *response { return c.errorResponse(http.StatusBadRequest, code, msg) }
	top := 100
	if v := vals.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			return bad("Request_BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive.")
		}
		top = n
	}
	count := false
	switch v := strings.ToLower(vals.Get("$count")); v {
	case "", "false":
	case "true":
		count = true
	default:
		return bad("Request_BadRequest", "Invalid value '"+vals.Get("$count")+"' for $count; expected true or false.")
	}
	if count && !strings.EqualFold(strings.TrimSpace(r.Header.Get("ConsistencyLevel")), "eventual") {
		return bad("Request_UnsupportedQuery", "$count requires the ConsistencyLevel header set to 'eventual'.")
	}
	after := ""
	if v := vals.Get("$skiptoken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || !isGUID(string(b)) {
			return bad("Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
		}
		after = string(b)
	}
	t := rt.typ
	var sel []string
	if v, ok := vals["$select"]; ok {
		for _, p := range strings.Split(strings.Join(v, ","), ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(t.properties(), p) {
				return bad("Request_BadRequest", "Parsing OData Select and Expand failed: Could not find a property named '"+p+"' on type 'microsoft.graph."+t.name+"'.")
			}
			sel = append(sel, p)
		}
	}
	if !hasAny(who.roles, t.read) {
		return c.errorResponse(http.StatusForbidden, "Authorization_RequestDenied", msgForbidden)
	}

	var items []*entry
	for id, e := range s.objects {
		if be, lagged := s.inBin(id); be != nil && !lagged && e.typ == t {
			items = append(items, e)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].obj.ID < items[j].obj.ID })
	total := len(items)
	start := sort.Search(len(items), func(i int) bool { return items[i].obj.ID > after })
	items = items[start:]
	more := len(items) > top
	if more {
		items = items[:top]
	}

	value := make([]map[string]any, 0, len(items))
	for _, e := range items {
		full := e.render()
		if sel == nil {
			value = append(value, full)
			continue
		}
		m := map[string]any{}
		for _, p := range sel {
			m[p] = full[p]
		}
		value = append(value, m)
	}
	context := base + "/$metadata#" + t.entitySet
	if sel != nil {
		context += "(" + strings.Join(sel, ",") + ")"
	}
	body := map[string]any{"@odata.context": context, "value": value}
	if count {
		body["@odata.count"] = total
	}
	if more {
		body["@odata.nextLink"] = base + "/directory/deletedItems/microsoft.graph." + t.name + "?" +
			nextQuery(vals, base64.RawURLEncoding.EncodeToString([]byte(items[len(items)-1].obj.ID)))
	}
	return newResponse(http.StatusOK).json(body)
}

// nextQuery rebuilds the query of a next link with a new $skiptoken, keeping "$" readable.
func nextQuery(orig url.Values, token string) string {
	keys := make([]string, 0, len(orig))
	for k := range orig {
		if k != "$skiptoken" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range orig[k] {
			parts = append(parts, strings.Replace(url.QueryEscape(k), "%24", "$", 1)+"="+url.QueryEscape(v))
		}
	}
	parts = append(parts, "$skiptoken="+token)
	return strings.Join(parts, "&")
}

// properties are what $select may name on a type: what the simulator renders.
func (t *typeInfo) properties() []string {
	p := []string{"id", "displayName", "deletedDateTime"}
	if t.name == "user" {
		p = append(p, "userPrincipalName", "onPremisesSyncEnabled")
	}
	return p
}

// listFaultKey is where the scripted steps of a type's LIST are kept, beside the per-object ones.
func listFaultKey(t *typeInfo) string { return "list:" + t.name }

// ScriptList appends steps answering the LIST of typ (any page), used up one per request like Script's.
func (s *Server) ScriptList(typ string, steps ...Step) {
	t := lookupType(typ)
	if t == nil {
		panic("graphsim: ScriptList: unknown type " + typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := listFaultKey(t)
	s.faults.scripts[key] = append(s.faults.scripts[key], steps...)
}
