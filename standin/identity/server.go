// Package identity is a local stand-in for the App Service / Azure Functions managed-identity
// endpoint (the "IDENTITY_ENDPOINT" protocol, api-version 2019-08-01).
//
// Why it exists: the purge handler authenticates to Microsoft Graph with
// azidentity.ManagedIdentityCredential. Pointing IDENTITY_ENDPOINT and IDENTITY_HEADER at this
// server makes the production credential code path run unchanged on a laptop or in CI, and the
// tokens it issues are the ones the Graph simulator (package graphsim) accepts, with the app roles
// a test chooses. Failures can be injected to exercise "token endpoint failure" handling.
//
// Protocol (docs/servicebus.md §1.2): GET {any path}?api-version=2019-08-01&resource=R
// [&client_id=…|&mi_res_id=…|&object_id=…] with header X-IDENTITY-HEADER. A 200 answer is
//
//	{"access_token":"<JWT>","expires_on":"<unix seconds>","resource":R,"token_type":"Bearer","client_id":…}
//
// Errors use App Service's body shape {"statusCode":N,"message":"…","correlationId":"<guid>"}:
//   - missing X-IDENTITY-HEADER → 400; wrong value → 401 (App Service's own codes here are not
//     documented; Container Apps has been seen to answer 403 with an empty body);
//   - api-version other than 2019-08-01, or no resource → 400;
//   - a client_id, object_id or mi_res_id → 400 "Unable to load the proper Managed Identity." (the
//     message App Service gives for an identity that is not assigned): the server models one
//     system-assigned identity, which is what the handler uses when AZURE_CLIENT_ID is empty.
package identity

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// APIVersion is the only api-version accepted, the one MSAL-go sends for App Service.
const APIVersion = "2019-08-01"

// Defaults used when Options leaves a field empty. They are recognisably fake GUIDs.
const (
	DefaultHeader   = "entra-purge-local-identity-header"
	DefaultTenantID = "00000000-0000-4000-8000-000000000001"
	DefaultClientID = "00000000-0000-4000-8000-000000000002"
	DefaultObjectID = "00000000-0000-4000-8000-000000000003"
)

// MessageIdentityNotFound is App Service's message when the requested identity is not assigned.
const MessageIdentityNotFound = "Unable to load the proper Managed Identity."

// Options configure a Server. Zero values take the defaults documented on each field.
type Options struct {
	// Header is the secret expected in X-IDENTITY-HEADER (IDENTITY_HEADER). Default DefaultHeader.
	Header string
	// Roles go into the roles claim of every token (app roles granted to the identity).
	Roles []string
	// ClientID (appid), ObjectID (oid/sub) and TenantID (tid) of the identity.
	ClientID, ObjectID, TenantID string
	// Now is the clock for iat/nbf/exp (tokens live TokenLifetime). Default time.Now.
	Now func() time.Time
	// Log, when set, receives one JSON line per request (a TokenRequest). Tokens are never logged.
	Log io.Writer
}

// TokenLifetime is how long issued tokens live, as on App Service.
const TokenLifetime = time.Hour

// TokenRequest records one request made to the endpoint (Options.Log).
type TokenRequest struct {
	Time     time.Time `json:"time"`
	Resource string    `json:"resource"`
	Status   int       `json:"status"`
	Error    string    `json:"error,omitempty"`
}

// Server is the managed-identity endpoint. It is an http.Handler that answers on any path, so it
// can be mounted at /msi/token (App Service's path) or used as the root of an httptest.Server.
type Server struct {
	opts Options

	mu      sync.Mutex
	failing int
	calls   int
}

// New returns a Server with opts, defaults filled in.
func New(opts Options) *Server {
	if opts.Header == "" {
		opts.Header = DefaultHeader
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ObjectID == "" {
		opts.ObjectID = DefaultObjectID
	}
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Roles = append([]string(nil), opts.Roles...)
	return &Server{opts: opts}
}

// SetFailing makes every request fail with status (and an App Service error body) until called
// with 0. Note that azcore retries 408/429/500/502/503/504 up to 3 times by default.
func (s *Server) SetFailing(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = status
}

// Calls returns how many requests reached the endpoint, including failed ones.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Issue mints a token for resource as the endpoint would, without an HTTP round trip. Useful for
// tests of the Graph simulator that do not care how the token was obtained.
func (s *Server) Issue(resource string) (string, Claims, error) {
	now := s.opts.Now()
	c := Claims{
		Audience:        resource,
		Issuer:          "https://sts.windows.net/" + s.opts.TenantID + "/",
		AppID:           s.opts.ClientID,
		AuthorizedParty: s.opts.ClientID,
		ObjectID:        s.opts.ObjectID,
		Subject:         s.opts.ObjectID,
		TenantID:        s.opts.TenantID,
		Roles:           append([]string(nil), s.opts.Roles...),
		IDType:          "app",
		TokenID:         uuid.NewString(),
		Version:         "1.0",
		IssuedAt:        now.Unix(),
		NotBefore:       now.Unix(),
		ExpiresAt:       now.Add(TokenLifetime).Unix(),
	}
	raw, err := Sign(DevSigningKey, c)
	return raw, c, err
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

type errorResponse struct {
	StatusCode    int    `json:"statusCode"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
}

// ServeHTTP implements the token protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec := TokenRequest{Time: s.opts.Now(), Resource: q.Get("resource")}
	status, msg := s.check(r)
	if status == 0 {
		s.mu.Lock()
		status = s.failing
		s.mu.Unlock()
		if status != 0 {
			msg = fmt.Sprintf("Injected failure: %s.", http.StatusText(status))
		}
	}
	corr := uuid.NewString()
	w.Header().Set("X-CORRELATION-ID", corr)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	var body any
	if status == 0 {
		raw, c, err := s.Issue(rec.Resource)
		if err != nil {
			status, msg = http.StatusInternalServerError, "Failed to sign token: "+err.Error()
		} else {
			status = http.StatusOK
			body = tokenResponse{
				AccessToken: raw,
				ExpiresOn:   strconv.FormatInt(c.ExpiresAt, 10),
				Resource:    rec.Resource,
				TokenType:   "Bearer",
				ClientID:    s.opts.ClientID,
			}
		}
	}
	if status != http.StatusOK {
		rec.Error = msg
		body = errorResponse{StatusCode: status, Message: msg, CorrelationID: corr}
	}
	rec.Status = status
	s.record(rec)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// check validates the request; 0 means it may be answered with a token.
func (s *Server) check(r *http.Request) (int, string) {
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, "Only GET is supported."
	}
	h, ok := r.Header["X-Identity-Header"]
	if !ok || len(h) == 0 || h[0] == "" {
		return http.StatusBadRequest, "Missing X-IDENTITY-HEADER."
	}
	if h[0] != s.opts.Header {
		return http.StatusUnauthorized, "X-IDENTITY-HEADER does not match."
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != APIVersion {
		return http.StatusBadRequest, fmt.Sprintf("Unsupported api-version %q; expected %s.", v, APIVersion)
	}
	if strings.TrimSpace(q.Get("resource")) == "" {
		return http.StatusBadRequest, "Missing required query parameter: resource."
	}
	for _, id := range []string{"client_id", "object_id", "mi_res_id"} {
		if q.Get(id) != "" {
			return http.StatusBadRequest, MessageIdentityNotFound
		}
	}
	return 0, ""
}

func (s *Server) record(rec TokenRequest) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if s.opts.Log != nil {
		b, err := json.Marshal(rec)
		if err == nil {
			s.mu.Lock()
			_, _ = s.opts.Log.Write(append(b, '\n'))
			s.mu.Unlock()
		}
	}
}
