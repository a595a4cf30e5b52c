package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/syncio"
)

// start serves s at /msi/token and points azidentity's App Service source at it.
//
// MSAL-go's managed-identity token cache is process-wide and keyed by (identity, resource), so
// every test that goes through azidentity uses its own scope or client id (docs/servicebus.md §1.3).
func start(t *testing.T, s *Server) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/msi/token", s)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	endpoint := ts.URL + "/msi/token"
	t.Setenv("IDENTITY_ENDPOINT", endpoint)
	t.Setenv("IDENTITY_HEADER", s.opts.Header)
	t.Setenv("IDENTITY_SERVER_THUMBPRINT", "")
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("MSI_SECRET", "")
	t.Setenv("IMDS_ENDPOINT", "")
	return endpoint
}

// graphScopeUsed records that this process already cached a system-assigned token for Graph's
// own scope; a repeated run (go test -count=N) must then use a fresh scope.
var graphScopeUsed atomic.Bool

// scope returns a scope no earlier test in this process has used.
func scope(name string) string { return "api://" + name + "-" + uuid.NewString() + "/.default" }

// fastRetry keeps azcore's retry policy (so the retry behaviour is real) but with millisecond delays.
var fastRetry = policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}

func credential(t *testing.T, id azidentity.ManagedIDKind, retry policy.RetryOptions) *azidentity.ManagedIdentityCredential {
	t.Helper()
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ID:            id,
		ClientOptions: azcore.ClientOptions{Retry: retry},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func getToken(t *testing.T, cred *azidentity.ManagedIdentityCredential, scope string) (string, time.Time, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	return tok.Token, tok.ExpiresOn, err
}

func TestAzidentitySystemAssignedGraphToken(t *testing.T) {
	roles := []string{"User.DeleteRestore.All", "Application.ReadWrite.OwnedBy"}
	var log syncio.Buffer
	s := New(Options{Header: "h-system", Roles: roles, Log: &log})
	start(t, s)
	cred := credential(t, nil, fastRetry)
	graphScope, wantAud := "https://graph.microsoft.com/.default", "https://graph.microsoft.com"
	if graphScopeUsed.Swap(true) {
		graphScope = scope("graph-rerun")
		wantAud = strings.TrimSuffix(graphScope, "/.default")
	}

	raw, expiresOn, err := getToken(t, cred, graphScope)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseToken(DevSigningKey, raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audience != wantAud {
		t.Errorf("aud = %q, want the resource with /.default removed", c.Audience)
	}
	if c.AppID != DefaultClientID || c.ObjectID != DefaultObjectID || c.TenantID != DefaultTenantID || c.IDType != "app" {
		t.Errorf("identity claims = %+v", c)
	}
	if !slices.Equal(c.Roles, roles) {
		t.Errorf("roles = %v, want %v", c.Roles, roles)
	}
	if !expiresOn.Equal(time.Unix(c.ExpiresAt, 0)) {
		t.Errorf("azidentity ExpiresOn = %v, token exp = %v", expiresOn, time.Unix(c.ExpiresAt, 0))
	}
	if d := time.Until(expiresOn); d < 55*time.Minute || d > 61*time.Minute {
		t.Errorf("token lifetime %v, want about 1h", d)
	}
	if err := c.Valid(time.Now()); err != nil {
		t.Errorf("fresh token not valid: %v", err)
	}

	// A second GetToken is served from MSAL's cache: the endpoint sees one call.
	if _, _, err := getToken(t, cred, graphScope); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 1 || s.Calls() != 1 {
		t.Fatalf("requests = %q, want exactly 1", lines)
	}
	var req TokenRequest
	if err := json.Unmarshal([]byte(lines[0]), &req); err != nil || req.Resource != wantAud || req.Status != 200 {
		t.Errorf("request = %+v (%v)", req, err)
	}
}

func TestAzidentityUnknownUserAssignedIdentity(t *testing.T) {
	s := New(Options{Header: "h-unknown"})
	start(t, s)
	cred := credential(t, azidentity.ClientID("5d1c9b1e-0c1f-4c55-9e5b-000000000bad"), fastRetry)
	_, _, err := getToken(t, cred, scope("identity-unknown"))
	if err == nil {
		t.Fatal("expected an error for an identity that is not assigned")
	}
	if !strings.Contains(err.Error(), MessageIdentityNotFound) || !strings.Contains(err.Error(), "400") {
		t.Errorf("error does not surface App Service's answer: %v", err)
	}
	if s.Calls() != 1 {
		t.Errorf("calls = %d, want 1 (400 is not retried)", s.Calls())
	}
}

func TestAzidentityFailures(t *testing.T) {
	s := New(Options{Header: "h-fail"})
	start(t, s)

	// Failing throughout: 1 call + 3 retries, then an AuthenticationFailedError.
	s.SetFailing(http.StatusInternalServerError)
	_, _, err := getToken(t, credential(t, nil, fastRetry), scope("identity-fail-2"))
	var afe *azidentity.AuthenticationFailedError
	if err == nil || !errors.As(err, &afe) {
		t.Fatalf("err = %v, want *azidentity.AuthenticationFailedError", err)
	}
	if afe.RawResponse == nil || afe.RawResponse.StatusCode != 500 {
		t.Errorf("RawResponse = %+v", afe.RawResponse)
	}
	if s.Calls() != 4 {
		t.Errorf("calls = %d, want 4", s.Calls())
	}

	// With retries off, a single call; turning the failure off restores service.
	fail3 := scope("identity-fail-3")
	if _, _, err := getToken(t, credential(t, nil, policy.RetryOptions{MaxRetries: -1}), fail3); err == nil {
		t.Fatal("expected failure")
	}
	if s.Calls() != 5 {
		t.Errorf("calls = %d, want 5", s.Calls())
	}
	s.SetFailing(0)
	if _, _, err := getToken(t, credential(t, nil, fastRetry), fail3); err != nil {
		t.Fatalf("after SetFailing(0): %v", err)
	}
}

func TestAzidentityWrongHeader(t *testing.T) {
	s := New(Options{Header: "h-roles", Roles: []string{"User.Read.All"}})
	start(t, s)
	t.Setenv("IDENTITY_HEADER", "not-the-secret")
	_, _, err := getToken(t, credential(t, nil, fastRetry), scope("identity-wrong-header"))
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong header: err = %v, want a 401", err)
	}
}

func TestHTTPSurface(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := New(Options{Header: "secret", Now: func() time.Time { return now }})
	ts := httptest.NewServer(s)
	defer ts.Close()

	do := func(header string, q url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/msi/token?"+q.Encode(), nil)
		if header != "" {
			req.Header.Set("X-IDENTITY-HEADER", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	ok := url.Values{"api-version": {APIVersion}, "resource": {"https://graph.microsoft.com"}}
	status, body := do("secret", ok)
	if status != 200 || body["token_type"] != "Bearer" || body["resource"] != "https://graph.microsoft.com" ||
		body["client_id"] != DefaultClientID || body["expires_on"] != strconv.FormatInt(now.Add(TokenLifetime).Unix(), 10) {
		t.Errorf("200 body = %v", body)
	}
	if c, err := ParseToken(DevSigningKey, body["access_token"].(string)); err != nil || c.ExpiresAt != now.Add(TokenLifetime).Unix() {
		t.Errorf("token: %+v %v", c, err)
	}

	for _, tc := range []struct {
		name   string
		header string
		q      url.Values
		status int
		msg    string
	}{
		{"no header", "", ok, 400, "Missing X-IDENTITY-HEADER."},
		{"wrong header", "nope", ok, 401, "X-IDENTITY-HEADER does not match."},
		{"old api-version", "secret", url.Values{"api-version": {"2017-09-01"}, "resource": {"r"}}, 400, ""},
		{"no resource", "secret", url.Values{"api-version": {APIVersion}}, 400, "Missing required query parameter: resource."},
		{"a client_id", "secret", url.Values{"api-version": {APIVersion}, "resource": {"r"}, "client_id": {DefaultClientID}}, 400, MessageIdentityNotFound},
		{"an object_id", "secret", url.Values{"api-version": {APIVersion}, "resource": {"r"}, "object_id": {DefaultObjectID}}, 400, MessageIdentityNotFound},
		{"a mi_res_id", "secret", url.Values{"api-version": {APIVersion}, "resource": {"r"}, "mi_res_id": {"x"}}, 400, MessageIdentityNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(tc.header, tc.q)
			if status != tc.status {
				t.Errorf("status = %d, want %d", status, tc.status)
			}
			if body["statusCode"] != float64(tc.status) || body["correlationId"] == "" {
				t.Errorf("body = %v", body)
			}
			if tc.msg != "" && body["message"] != tc.msg {
				t.Errorf("message = %v, want %q", body["message"], tc.msg)
			}
		})
	}

	s.SetFailing(429)
	if status, body := do("secret", ok); status != 429 || body["statusCode"] != float64(429) {
		t.Errorf("SetFailing(429): %d %v", status, body)
	}
	s.SetFailing(0)
	if status, _ := do("secret", ok); status != 200 {
		t.Errorf("SetFailing(0): %d", status)
	}
}

func TestConcurrentRequestsAndLog(t *testing.T) {
	var buf syncio.Buffer
	s := New(Options{Log: &buf})
	ts := httptest.NewServer(s)
	defer ts.Close()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/?api-version="+APIVersion+"&resource=r", nil)
			req.Header.Set("X-IDENTITY-HEADER", DefaultHeader)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if s.Calls() != 20 {
		t.Errorf("calls = %d", s.Calls())
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d log lines", len(lines))
	}
	var rec TokenRequest
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Resource != "r" || rec.Status != 200 {
		t.Errorf("log line %q: %+v %v", lines[0], rec, err)
	}
	if strings.Contains(buf.String(), "eyJ") {
		t.Error("log contains a token")
	}
}
