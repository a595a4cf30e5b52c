package graphsim

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// listQuery is a parsed LIST query.
type listQuery struct {
	top      int
	count    bool
	sel      []string
	orderBy  string // "", "displayName", "userPrincipalName", "deletedDateTime"
	desc     bool
	filters  []func(map[string]any) bool
	search   func(map[string]any) bool
	cursor   *cursor
	original url.Values
}

// cursor is the $skiptoken: the sort key and id of the last item of the previous page. Paging by
// position instead would skip objects when a client purges what it has just listed.
type cursor struct {
	Key string `json:"k"`
	ID  string `json:"i"`
}

func (s *Server) list(r *http.Request, c *rc, rt route, who *caller, base string) *response {
	q, fail := parseListQuery(r, c, rt.typ)
	if fail != nil {
		return fail
	}
	t := rt.typ
	readAll, readOwned := hasAny(who.roles, t.read), hasAny(who.roles, t.readOwned)
	if !readAll && !readOwned {
		return c.errorResponse(http.StatusForbidden, "Authorization_RequestDenied", msgForbidden)
	}

	type item struct {
		e    *entry
		key  string
		full map[string]any
	}
	var items []item
	for id, e := range s.objects {
		if e.typ != t {
			continue
		}
		if be, lagged := s.inBin(id, rt.version, c.now); be == nil || lagged {
			continue
		}
		full := e.render(false, nil)
		ok := q.search == nil || q.search(full)
		for _, f := range q.filters {
			ok = ok && f(full)
		}
		if ok {
			items = append(items, item{e: e, key: sortKey(e, q.orderBy), full: full})
		}
	}
	compare := func(aKey, aID, bKey, bID string) int {
		n := cmp.Or(strings.Compare(aKey, bKey), strings.Compare(aID, bID))
		if q.desc {
			return -n
		}
		return n
	}
	sort.Slice(items, func(i, j int) bool {
		return compare(items[i].key, items[i].e.obj.ID, items[j].key, items[j].e.obj.ID) < 0
	})
	total := len(items)
	if q.cursor != nil {
		start := sort.Search(len(items), func(i int) bool {
			return compare(items[i].key, items[i].e.obj.ID, q.cursor.Key, q.cursor.ID) > 0
		})
		items = items[start:]
	}
	more := len(items) > q.top
	if more {
		items = items[:q.top]
	}

	value := make([]map[string]any, 0, len(items))
	for _, it := range items {
		limited := !readAll && !allowed(who.roles, nil, t.readOwned, who.objectID, it.e.obj.Owners)
		value = append(value, it.e.render(limited, q.sel))
	}
	body := map[string]any{
		"@odata.context": base + "/$metadata#" + t.entitySet + selectSuffix(q.sel),
		"value":          value,
	}
	if q.count {
		body["@odata.count"] = total
	}
	if more {
		last := items[len(items)-1]
		tok, _ := json.Marshal(cursor{Key: last.key, ID: last.e.obj.ID})
		body["@odata.nextLink"] = base + "/directory/deletedItems/microsoft.graph." + t.name + "?" +
			encodeQuery(q.original, base64.RawURLEncoding.EncodeToString(tok))
	}
	return newResponse(http.StatusOK).json(body)
}

// parseListQuery validates the OData options of a LIST. $count, $search and $orderby on
// deletedDateTime are advanced queries: they need ConsistencyLevel: eventual (and, for the
// deletedDateTime sort, $count=true), else 400 Request_UnsupportedQuery (graph.md §1.4, §9).
func parseListQuery(r *http.Request, c *rc, t *typeInfo) (*listQuery, *response) {
	vals := r.URL.Query()
	bad := func(code, msg string) (*listQuery, *response) {
		return nil, c.errorResponse(http.StatusBadRequest, code, msg)
	}
	eventual := strings.EqualFold(strings.TrimSpace(r.Header.Get("ConsistencyLevel")), "eventual")
	q := &listQuery{top: 100, original: vals, sel: selectList(r)}
	if v := vals.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			return bad("Request_BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive.")
		}
		q.top = n
	}
	switch v := strings.ToLower(vals.Get("$count")); v {
	case "", "false":
	case "true":
		q.count = true
	default:
		return bad("Request_BadRequest", "Invalid value '"+vals.Get("$count")+"' for $count; expected true or false.")
	}
	if q.count && !eventual {
		return bad("Request_UnsupportedQuery", "$count requires the ConsistencyLevel header set to 'eventual'.")
	}
	if vals.Get("$expand") != "" {
		return bad("Request_UnsupportedQuery", "$expand is not supported by the Graph simulator.")
	}
	if v := vals.Get("$orderby"); v != "" {
		f := strings.Fields(v)
		if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "asc") && !strings.EqualFold(f[1], "desc")) {
			return bad("Request_UnsupportedQuery", "Unsupported $orderby expression '"+v+"'.")
		}
		switch {
		case strings.EqualFold(f[0], "displayName"):
			q.orderBy = "displayName"
		case strings.EqualFold(f[0], "userPrincipalName") && t.name == "user":
			q.orderBy = "userPrincipalName"
		case strings.EqualFold(f[0], "deletedDateTime"):
			if !eventual || !q.count {
				return bad("Request_UnsupportedQuery", "Sorting by deletedDateTime requires the ConsistencyLevel header set to 'eventual' and $count=true.")
			}
			q.orderBy = "deletedDateTime"
		default:
			return bad("Request_UnsupportedQuery", "Sorting not supported for '"+f[0]+"'.")
		}
		q.desc = len(f) == 2 && strings.EqualFold(f[1], "desc")
	}
	if v := vals.Get("$search"); v != "" {
		if !eventual {
			return bad("Request_UnsupportedQuery", "$search requires the ConsistencyLevel header set to 'eventual'.")
		}
		prop, term, ok := strings.Cut(strings.Trim(v, `"`), ":")
		if !ok || prop == "" {
			return bad("Request_UnsupportedQuery", "Invalid $search expression '"+v+"'; expected \"property:term\".")
		}
		term = strings.ToLower(term)
		q.search = func(m map[string]any) bool {
			s, _ := propFold(m, prop).(string)
			return strings.Contains(strings.ToLower(s), term)
		}
	}
	if v := vals.Get("$filter"); v != "" {
		for _, clause := range splitAnd(v) {
			f, err := parseClause(clause)
			if err != nil {
				return bad("Request_UnsupportedQuery", fmt.Sprintf(
					"Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", err.Error(), t.name))
			}
			q.filters = append(q.filters, f)
		}
	}
	if v := vals.Get("$skiptoken"); v != "" {
		var cur cursor
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || json.Unmarshal(b, &cur) != nil || cur.ID == "" {
			return bad("Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
		}
		q.cursor = &cur
	}
	return q, nil
}

func sortKey(e *entry, orderBy string) string {
	switch orderBy {
	case "displayName":
		return strings.ToLower(e.obj.DisplayName)
	case "userPrincipalName":
		return strings.ToLower(e.obj.UserPrincipalName)
	case "deletedDateTime":
		return e.obj.DeletedAt.UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	return ""
}

// encodeQuery rebuilds the query of a next link with a new $skiptoken, keeping "$" readable.
func encodeQuery(orig url.Values, token string) string {
	keys := make([]string, 0, len(orig))
	for k := range orig {
		if k != "$skiptoken" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range orig[k] {
			parts = append(parts, strings.Replace(url.QueryEscape(k), "%24", "$", 1)+"="+url.QueryEscape(v))
		}
	}
	parts = append(parts, "$skiptoken="+token)
	return strings.Join(parts, "&")
}

func propFold(m map[string]any, prop string) any {
	for k, v := range m {
		if strings.EqualFold(k, prop) {
			return v
		}
	}
	return nil
}

var andRE = regexp.MustCompile(`(?i)\s+and\s+`)

func splitAnd(s string) []string { return andRE.Split(strings.TrimSpace(s), -1) }

var (
	startsWithRE = regexp.MustCompile(`(?i)^startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)$`)
	compareRE    = regexp.MustCompile(`(?i)^(\w+)\s+(eq|ne|lt|le|gt|ge)\s+(.+)$`)
)

type clauseError string

func (e clauseError) Error() string { return string(e) }

// parseClause understands the $filter forms a purge tool plausibly uses:
// startswith(prop,'x'), prop eq|ne 'x' | true | false | null, and deletedDateTime lt|le|gt|ge|eq
// <RFC 3339 time>. Anything else is refused rather than silently ignored.
func parseClause(s string) (func(map[string]any) bool, error) {
	s = strings.TrimSpace(s)
	if m := startsWithRE.FindStringSubmatch(s); m != nil {
		prop, prefix := m[1], strings.ToLower(strings.ReplaceAll(m[2], "''", "'"))
		return func(o map[string]any) bool {
			v, _ := propFold(o, prop).(string)
			return strings.HasPrefix(strings.ToLower(v), prefix)
		}, nil
	}
	m := compareRE.FindStringSubmatch(s)
	if m == nil {
		return nil, clauseError(s)
	}
	prop, op, lit := m[1], strings.ToLower(m[2]), strings.TrimSpace(m[3])
	if strings.EqualFold(prop, "deletedDateTime") {
		at, err := time.Parse(time.RFC3339, lit)
		if err != nil {
			return nil, clauseError(prop)
		}
		return func(o map[string]any) bool {
			v, _ := propFold(o, prop).(string)
			d, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return false
			}
			switch op {
			case "eq":
				return d.Equal(at)
			case "ne":
				return !d.Equal(at)
			case "lt":
				return d.Before(at)
			case "le":
				return !d.After(at)
			case "gt":
				return d.After(at)
			default:
				return !d.Before(at)
			}
		}, nil
	}
	if op != "eq" && op != "ne" {
		return nil, clauseError(prop)
	}
	var want any
	switch {
	case len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'':
		want = strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
	case strings.EqualFold(lit, "true"):
		want = true
	case strings.EqualFold(lit, "false"):
		want = false
	case strings.EqualFold(lit, "null"):
		want = nil
	default:
		return nil, clauseError(prop)
	}
	return func(o map[string]any) bool {
		v := propFold(o, prop)
		eq := v == want
		if ws, ok := want.(string); ok {
			vs, isStr := v.(string)
			eq = isStr && strings.EqualFold(vs, ws)
		}
		return eq == (op == "eq")
	}, nil
}
