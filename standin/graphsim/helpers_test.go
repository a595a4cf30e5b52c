package graphsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/standin/identity"
)

// t0 is the simulated "now" at the start of each test.
var t0 = time.Date(2026, 6, 10, 9, 30, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t   *testing.T
	clk *clock
	sim *Server
	ts  *httptest.Server
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clk := &clock{t: t0}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	sim := New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &env{t: t, clk: clk, sim: sim, ts: ts}
}

// Well-known caller identity of tokens minted by env.token.
const (
	callerApp    = identity.DefaultClientID
	callerTenant = identity.DefaultTenantID
)

// token mints a token for the simulator with roles from the identity stand-in, on the test clock.
func (e *env) token(roles ...string) string {
	return e.tokenFor(identity.Options{Roles: roles}, e.ts.URL)
}

func (e *env) tokenFor(o identity.Options, aud string) string {
	e.t.Helper()
	o.Now = e.clk.Now
	raw, _, err := identity.New(o).Issue(aud)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r result) errCode() string {
	m, _ := r.body["error"].(map[string]any)
	s, _ := m["code"].(string)
	return s
}

func (r result) errMessage() string {
	m, _ := r.body["error"].(map[string]any)
	s, _ := m["message"].(string)
	return s
}

// do sends a request; hdr is name, value pairs.
func (e *env) do(method, path, token string, hdr ...string) result {
	e.t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.ts.URL + path
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return r
}

func (e *env) expect(r result, status int, code string) {
	e.t.Helper()
	if r.status != status || r.errCode() != code {
		e.t.Fatalf("got %d %q, want %d %q; body %s", r.status, r.errCode(), status, code, r.raw)
	}
}

func ptr[T any](v T) *T { return &v }

// guid makes a distinct, valid object id from n.
func guid(n int) string {
	const hex = "0123456789abcdef"
	b := []byte("8f3c0c55-1f0e-4a43-9d0e-000000000000")
	for i := len(b) - 1; n > 0 && i >= 24; i-- {
		b[i] = hex[n%16]
		n /= 16
	}
	return string(b)
}

func deletedUser(n int, ago time.Duration) Object {
	return Object{ID: guid(n), Type: "user", DisplayName: "User " + guid(n)[30:], UserPrincipalName: guid(n)[24:] + "@contoso.example", DeletedAt: t0.Add(-ago)}
}
