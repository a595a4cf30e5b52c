package graph

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/throttle"
)

const gid = "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"

// staticCred hands out numbered tokens and can fail on demand.
type staticCred struct {
	mu     sync.Mutex
	n      int
	fail   error
	scopes []string
}

func (c *staticCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = o.Scopes
	if c.fail != nil {
		return azcore.AccessToken{}, c.fail
	}
	c.n++
	return azcore.AccessToken{Token: "token-" + string(rune('0'+c.n)), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type recorded struct {
	method, path, auth, clientRequestID, priority string
	at                                            time.Time
}

func newServer(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *[]recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("client-request-id"), r.Header.Get("x-ms-throttle-priority"), time.Now()})
		n := len(reqs)
		mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func client(t *testing.T, url string, cred azcore.TokenCredential) *Client {
	t.Helper()
	c, err := NewClient(url, cred, &ClientOptions{ClientOptions: azcore.ClientOptions{InsecureAllowCredentialWithHTTP: true}, MaxInProcessWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "rid-"+code)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":{"code":"` + code + `","message":"` + msg + `","innerError":{"date":"2026-11-28T10:00:00","request-id":"inner-rid","client-request-id":"x"}}}`))
}

func TestPurgeSuccess(t *testing.T) {
	srv, reqs := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("request-id", "rid-1")
		w.WriteHeader(http.StatusNoContent)
	})
	cred := &staticCred{}
	res, err := client(t, srv.URL, cred).Purge(context.Background(), directory.MustParseObjectID(strings.ToUpper(gid)))
	if err != nil || res.Status != 204 || res.RequestID != "rid-1" {
		t.Fatalf("res %+v err %v", res, err)
	}
	r := (*reqs)[0]
	if r.method != "DELETE" || r.path != "/v1.0/directory/deletedItems/"+gid || r.auth != "Bearer token-1" || r.clientRequestID == "" || r.priority != "Low" {
		t.Errorf("request %+v", r)
	}
	if len(cred.scopes) != 1 || cred.scopes[0] != srv.URL+"/.default" {
		t.Errorf("scopes %v", cred.scopes)
	}
}

func TestGetDeletedItem(t *testing.T) {
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;odata.metadata=minimal")
		_, _ = w.Write([]byte(`{"@odata.context":"x","@odata.type":"#microsoft.graph.user","id":"` + gid + `","displayName":"Ada","deletedDateTime":"2026-11-01T10:11:12Z","onPremisesSyncEnabled":true}`))
	})
	item, _, err := client(t, srv.URL, &staticCred{}).DeletedObject(context.Background(), directory.MustParseObjectID(gid))
	if err != nil {
		t.Fatal(err)
	}
	if item.Type != directory.User || !item.OnPremisesSyncEnabled || !item.DeletedDateTime.Equal(time.Date(2026, 11, 1, 10, 11, 12, 0, time.UTC)) {
		t.Errorf("item %+v", item)
	}
}

func TestTypeInferredWithoutODataType(t *testing.T) {
	for body, want := range map[string]directory.Type{
		`{"id":"x","userPrincipalName":"a@b","onPremisesSyncEnabled":null}`: directory.User,
		`{"id":"x","appId":"y","servicePrincipalType":"Application"}`:       directory.ServicePrincipal,
		`{"id":"x","appId":"y"}`:       directory.Application,
		`{"id":"x","groupTypes":[]}`:   directory.Group,
		`{"id":"x","displayName":"?"}`: "",
	} {
		srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) })
		item, _, err := client(t, srv.URL, &staticCred{}).DeletedObject(context.Background(), directory.MustParseObjectID(gid))
		if err != nil || item.Type != want || item.OnPremisesSyncEnabled {
			t.Errorf("%s: %+v %v", body, item, err)
		}
	}
}

func TestErrorParsed(t *testing.T) {
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		graphError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	})
	_, err := client(t, srv.URL, &staticCred{}).Purge(context.Background(), directory.MustParseObjectID(gid))
	var ge *Error
	if !errors.As(err, &ge) || ge.StatusCode != 403 || ge.Code != "Authorization_RequestDenied" || ge.RequestID != "rid-Authorization_RequestDenied" || ge.Transient() {
		t.Fatalf("err %#v", err)
	}
	if !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Authorization_RequestDenied") {
		t.Errorf("message %q", err)
	}
}

func TestErrorWithoutBodyAndLowercaseInnerError(t *testing.T) {
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
			return
		}
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":{"code":"Request_BadRequest","message":"m","innererror":{"request-id":"lower-rid"}}}`))
	})
	c, _ := NewClient(srv.URL, &staticCred{}, &ClientOptions{ClientOptions: azcore.ClientOptions{InsecureAllowCredentialWithHTTP: true}, MaxInProcessRetries: -1})
	_, _, err := c.DeletedObject(context.Background(), directory.MustParseObjectID(gid))
	var ge *Error
	if !errors.As(err, &ge) || ge.StatusCode != 502 || ge.Code != "" || !ge.Transient() {
		t.Fatalf("err %#v", err)
	}
	_, err = c.Purge(context.Background(), directory.MustParseObjectID(gid))
	if !errors.As(err, &ge) || ge.RequestID != "lower-rid" {
		t.Fatalf("err %#v", err)
	}
}

// A short Retry-After is waited for in-process (never sooner), a long one is handed back to the caller.
func TestRetryAfterInProcess(t *testing.T) {
	srv, reqs := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			graphError(w, 429, "TooManyRequests", "Please retry again later.")
			return
		}
		w.WriteHeader(204)
	})
	_, err := client(t, srv.URL, &staticCred{}).Purge(context.Background(), directory.MustParseObjectID(gid))
	if err != nil {
		t.Fatal(err)
	}
	if len(*reqs) != 2 {
		t.Fatalf("%d requests", len(*reqs))
	}
	if gap := (*reqs)[1].at.Sub((*reqs)[0].at); gap < time.Second {
		t.Errorf("retried after %s, sooner than Retry-After", gap)
	}
	if (*reqs)[0].clientRequestID != (*reqs)[1].clientRequestID {
		t.Error("a retry of one call must keep its client-request-id")
	}

	srv2, reqs2 := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		graphError(w, 429, "TooManyRequests", "Please retry again later.")
	})
	_, err = client(t, srv2.URL, &staticCred{}).Purge(context.Background(), directory.MustParseObjectID(gid))
	var ge *Error
	if !errors.As(err, &ge) || ge.RetryAfter != 30*time.Second || len(*reqs2) != 1 {
		t.Fatalf("err %v requests %d", err, len(*reqs2))
	}
}

func TestUnauthorizedRetriedWithFreshToken(t *testing.T) {
	srv, reqs := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		graphError(w, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
	})
	_, err := client(t, srv.URL, &staticCred{}).Purge(context.Background(), directory.MustParseObjectID(gid))
	var ge *Error
	if !errors.As(err, &ge) || ge.StatusCode != 401 {
		t.Fatalf("err %v", err)
	}
	if len(*reqs) != 2 || (*reqs)[0].auth == (*reqs)[1].auth {
		t.Fatalf("want two tries with different tokens, got %+v", *reqs)
	}
}

func TestTokenFailureIsMarked(t *testing.T) {
	srv, reqs := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	_, err := client(t, srv.URL, &staticCred{fail: errors.New("identity endpoint answered 500")}).Purge(context.Background(), directory.MustParseObjectID(gid))
	var te *TokenError
	var ce *CallError
	if !errors.As(err, &te) || !errors.As(err, &ce) || len(*reqs) != 0 {
		t.Fatalf("err %v, %d requests", err, len(*reqs))
	}
}

func TestRefusesPlainHTTPAndZeroID(t *testing.T) {
	if _, err := NewClient("http://graph.example.com", &staticCred{}, nil); err == nil {
		t.Error("plain http accepted without InsecureAllowCredentialWithHTTP")
	}
	c, _ := NewClient("https://graph.microsoft.com", &staticCred{}, nil)
	if _, err := c.Purge(context.Background(), directory.ObjectID{}); err == nil {
		t.Error("zero id accepted")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{"": 0, "2.128": 2128 * time.Millisecond, "10": 10 * time.Second, "-1": 0,
		"Sat, 28 Nov 2026 10:00:30 GMT": 30 * time.Second, "soon": 0} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func TestHardDeleteProtected(t *testing.T) {
	for _, e := range []Error{{StatusCode: 400, Message: "Hard deletion protection is enabled until 2026-12-01"}, {StatusCode: 403, Code: "HardDeleteProtectionEnabled"}} {
		if !e.HardDeleteProtected() {
			t.Errorf("%+v not recognised", e)
		}
	}
	if (&Error{StatusCode: 404, Message: "hard delete"}).HardDeleteProtected() {
		t.Error("404 recognised as protection")
	}
}

// Every answer becomes a *directory.Error whose kind is what the purge domain decides on, and which still
// carries the call (status, code, request-id) and Retry-After.
func TestAnswersClassifiedForTheDomain(t *testing.T) {
	for _, tt := range []struct {
		status   int
		code     string
		message  string
		kind     directory.ErrorKind
		tempOnly bool
	}{
		{404, "Request_ResourceNotFound", "", directory.NotFound, false},
		{429, "TooManyRequests", "", directory.Throttled, true},
		{503, "ServiceUnavailable", "", directory.Unavailable, true},
		{500, "InternalServerError", "", directory.Unavailable, true},
		{409, "Directory_ConcurrencyViolation", "", directory.Unavailable, true},
		{409, "Request_MultipleObjectsWithSameKeyValue", "", directory.Rejected, false},
		{403, "Authorization_RequestDenied", "", directory.Forbidden, false},
		{401, "InvalidAuthenticationToken", "", directory.Forbidden, false},
		{400, "Request_BadRequest", "Hard deletion protection is enabled", directory.HardDeleteProtected, false},
		{400, "Request_BadRequest", "bad", directory.Rejected, false},
	} {
		srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			graphError(w, tt.status, tt.code, tt.message)
		})
		call, err := client(t, srv.URL, &staticCred{}).Purge(context.Background(), directory.MustParseObjectID(gid))
		de, ok := errors.AsType[*directory.Error](err)
		if !ok || de.Kind != tt.kind || de.Kind.Temporary() != tt.tempOnly {
			t.Errorf("%d %s: %v (kind %v)", tt.status, tt.code, err, directory.KindOf(err))
			continue
		}
		want := directory.Call{Method: "DELETE", Status: tt.status, Code: tt.code, RequestID: "rid-" + tt.code}
		if call != want || de.Call != want || de.RetryAfter != 30*time.Second || de.Message != tt.message {
			t.Errorf("%d %s: call %+v, error call %+v, retry-after %s, message %q", tt.status, tt.code, call, de.Call, de.RetryAfter, de.Message)
		}
	}
	_, err := client(t, "http://127.0.0.1:1", &staticCred{}).Purge(context.Background(), directory.MustParseObjectID(gid))
	if directory.KindOf(err) != directory.Unreachable {
		t.Errorf("no answer: %v", err)
	}
	_, err = client(t, "http://127.0.0.1:1", &staticCred{fail: errors.New("no identity")}).Purge(context.Background(), directory.MustParseObjectID(gid))
	if directory.KindOf(err) != directory.NoToken {
		t.Errorf("no token: %v", err)
	}
}

// The issue-11 defect: a GET answered 429 with Retry-After 2, then a repeat that ran out of time. The
// error still names the 429, its request-id and the Retry-After, so the retry copy is scheduled no sooner.
func TestThrottledThenDeadlineKeepsTheRetryAfter(t *testing.T) {
	for _, paced := range []bool{false, true} {
		srv, reqs := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "2")
				graphError(w, 429, "TooManyRequests", "Please retry again later.")
				return
			}
			<-r.Context().Done() // the repeat never answers
		})
		opts := &ClientOptions{ClientOptions: azcore.ClientOptions{InsecureAllowCredentialWithHTTP: true}, MaxInProcessWait: 4 * time.Second}
		if paced {
			opts.Throttle = throttle.New(&throttle.Options{WritesPerSecond: 20})
		}
		c, err := NewClient(srv.URL, &staticCred{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, call, err := c.DeletedObject(ctx, directory.MustParseObjectID(gid))
		cancel()
		de, ok := errors.AsType[*directory.Error](err)
		if !ok || de.RetryAfter < 2*time.Second || call.Status != 429 || call.RequestID != "rid-TooManyRequests" || call.Code != "TooManyRequests" {
			t.Fatalf("paced=%v: call %+v err %v", paced, call, err)
		}
		if de.Kind != directory.Throttled || de.Call != call {
			t.Errorf("paced=%v: kind %s call %+v, want throttled", paced, de.Kind, de.Call)
		}
		// The repeat waited for the Retry-After (azcore's retry policy, and with the controller the pause of
		// the reads too), then went with the second left: a call due now is made, however close its deadline.
		srv.Close() // waits for the server's handlers, so the request log is complete and safe to read
		if len(*reqs) != 2 {
			t.Fatalf("paced=%v: %d requests, want the 429 and its repeat", paced, len(*reqs))
		}
		if gap := (*reqs)[1].at.Sub((*reqs)[0].at); gap < 2*time.Second {
			t.Errorf("paced=%v: the repeat came %s after the 429, sooner than its Retry-After", paced, gap)
		}
	}
}

// With the controller, an in-process retry after a fractional Retry-After waits all of it (azcore alone
// reads only whole seconds and would retry after its own shorter delay), and one call's 429 holds back
// the other writes of the process too.
func TestPacedRetriesHonourFractionalRetryAfter(t *testing.T) {
	var mu sync.Mutex
	throttled := false
	srv, reqs := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !throttled
		throttled = true
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1.5")
			graphError(w, 429, "TooManyRequests", "Please retry again later.")
			return
		}
		w.WriteHeader(204)
	})
	ctl := throttle.New(&throttle.Options{WritesPerSecond: 50})
	c, err := NewClient(srv.URL, &staticCred{}, &ClientOptions{ClientOptions: azcore.ClientOptions{InsecureAllowCredentialWithHTTP: true}, Throttle: ctl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Purge(context.Background(), directory.MustParseObjectID(gid)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Purge(context.Background(), directory.MustParseObjectID(strings.Replace(gid, "8f", "9f", 1))); err != nil {
		t.Fatal(err)
	}
	r := *reqs
	if len(r) != 3 {
		t.Fatalf("%d requests", len(r))
	}
	for _, later := range r[1:] {
		if gap := later.at.Sub(r[0].at); gap < 1500*time.Millisecond {
			t.Errorf("a write %s after the 429, sooner than its Retry-After of 1.5 s", gap)
		}
	}
}

// A cold burst of concurrent first calls opens one TLS connection to Graph, not one per call.
func TestColdBurstOpensOneConnection(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	base := srv.Client().Transport.(*http.Transport).Clone()
	c, err := NewClient(srv.URL, &staticCred{}, &ClientOptions{ClientOptions: azcore.ClientOptions{Transport: NewTransport(base)}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Purge(context.Background(), directory.MustParseObjectID(gid)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if conns > 2 {
		t.Errorf("%d connections for 100 concurrent first calls", conns)
	}
}
