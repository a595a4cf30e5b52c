// Package graph is the small Microsoft Graph client entra-purge needs: read one deleted directory object and
// permanently delete it. It is built on azcore's HTTP pipeline (bearer-token policy, retry policy that
// honours Retry-After, telemetry) rather than the Graph SDK, which is hundreds of megabytes for two calls.
//
// Methods take a [directory.ObjectID], so only validated GUIDs ever reach a URL, and speak the domain's
// terms: a [directory.DeletedObject], a [directory.Call], and failures as a *directory.Error whose Kind
// this package decides (the one place that reads Graph's status codes). The *directory.Error wraps an
// [*Error] (Graph answered: status, code, message, request-id, Retry-After, throttle headers) or a
// [*CallError] (no answer), so errors.As finds the detail too.
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/internal/buildinfo"
	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/throttle"
)

// In-process retry bounds. A purge runs inside a Service Bus message lock, so only short waits are spent
// here; anything longer is handed back to the caller, which schedules a retry copy instead.
const (
	DefaultMaxInProcessRetries = 2
	DefaultMaxInProcessWait    = 4 * time.Second
)

// ClientOptions configures a [Client]. A nil *ClientOptions means defaults.
type ClientOptions struct {
	azcore.ClientOptions

	// Scope is the token scope; it defaults to "<endpoint>/.default".
	Scope string

	// MaxInProcessRetries and MaxInProcessWait bound the retries made inside one call for 429/500/502/503/504
	// and network errors. A Retry-After longer than MaxInProcessWait is not waited for: the error is returned
	// with RetryAfter set. Zero means the defaults above; a negative MaxInProcessRetries disables retries.
	MaxInProcessRetries int
	MaxInProcessWait    time.Duration

	// Throttle paces the calls (a pause after a throttled answer, the write rate). Share one controller
	// between every client of the process; nil means no pacing beyond azcore's own retries.
	Throttle *throttle.Controller
}

// Client calls Microsoft Graph v1.0.
type Client struct {
	pl   runtime.Pipeline
	base string
	// origin is the endpoint's scheme://host[:port]: the only place a next link may lead (ListDeleted).
	origin *url.URL
}

// NewClient returns a client for the Graph root endpoint (for example https://graph.microsoft.com) that
// authenticates with cred. Plain http is refused unless opts.InsecureAllowCredentialWithHTTP is set, which
// config allows only for a loopback simulator.
func NewClient(endpoint string, cred azcore.TokenCredential, opts *ClientOptions) (*Client, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	endpoint = strings.TrimRight(endpoint, "/")
	if !strings.HasPrefix(endpoint, "https://") && !(strings.HasPrefix(endpoint, "http://") && opts.InsecureAllowCredentialWithHTTP) {
		return nil, fmt.Errorf("graph: endpoint %q must use https", endpoint)
	}
	scope := opts.Scope
	if scope == "" {
		scope = endpoint + "/.default"
	}
	co := opts.ClientOptions
	retries, wait := opts.MaxInProcessRetries, opts.MaxInProcessWait
	if retries == 0 {
		retries = DefaultMaxInProcessRetries
	}
	if wait <= 0 {
		wait = DefaultMaxInProcessWait
	}
	co.Retry = policy.RetryOptions{
		MaxRetries:    int32(retries),
		RetryDelay:    500 * time.Millisecond,
		MaxRetryDelay: wait, // azcore returns the response, without waiting, when Retry-After exceeds this
		TryTimeout:    20 * time.Second,
		StatusCodes:   []int{http.StatusTooManyRequests, 500, 502, 503, 504},
	}
	if retries < 0 {
		co.Retry.MaxRetries = -1
	}
	co.Telemetry.ApplicationID = "entra-purge"
	if co.Transport == nil {
		co.Transport = NewTransport(http.DefaultTransport.(*http.Transport).Clone())
	}
	pl := runtime.NewPipeline("entra-purge", buildinfo.Version, runtime.PipelineOptions{
		PerCall: []policy.Policy{headersPolicy{}},
		PerRetry: []policy.Policy{
			pacePolicy{ctl: opts.Throttle, now: time.Now},
			runtime.NewBearerTokenPolicy(markedCredential{cred}, []string{scope}, &policy.BearerTokenOptions{
				InsecureAllowCredentialWithHTTP: co.InsecureAllowCredentialWithHTTP,
			}),
		},
	}, &co)
	origin, err := url.Parse(endpoint)
	if err != nil || origin.Host == "" {
		return nil, fmt.Errorf("graph: endpoint %q is not an absolute URL", endpoint)
	}
	return &Client{pl: pl, base: endpoint + "/v1.0", origin: origin}, nil
}

// headersPolicy sets the request headers Graph asks every client to send. (The client-request-id is set
// once per logical call in do, so retries — in-process, and the one after a 401 — share it.)
type headersPolicy struct{}

func (headersPolicy) Do(req *policy.Request) (*http.Response, error) {
	h := req.Raw().Header
	h.Set("Accept", "application/json")
	// Purges are background work: ask Graph to throttle them before interactive traffic (docs/graph.md §4.2).
	h.Set("x-ms-throttle-priority", "Low")
	return req.Next()
}

// DeletedObject reads GET /directory/deletedItems/{id}. A 404 is a *directory.Error of kind NotFound like
// any other failure.
func (c *Client) DeletedObject(ctx context.Context, id directory.ObjectID) (directory.DeletedObject, directory.Call, error) {
	var obj directory.DeletedObject
	if id.IsZero() {
		return obj, directory.Call{Method: http.MethodGet}, errors.New("graph: GET with an empty object id")
	}
	call, body, err := c.do(ctx, http.MethodGet, id.String(), "", http.StatusOK)
	if err != nil {
		return obj, call, err
	}
	var raw deletedObjectJSON
	if err := json.Unmarshal(body, &raw); err != nil {
		return obj, call, &directory.Error{Kind: directory.Rejected, Call: call,
			Err: fmt.Errorf("graph: GET deletedItems/%s: decoding the answer: %w", id, err)}
	}
	return raw.object(), call, nil
}

// deletedObjectJSON is a deleted object as Graph sends it.
type deletedObjectJSON struct {
	ID              string  `json:"id"`
	ODataType       string  `json:"@odata.type"`
	DisplayName     string  `json:"displayName"`
	DeletedDateTime *string `json:"deletedDateTime"`
	OnPremSync      *bool   `json:"onPremisesSyncEnabled"`
	// Properties that identify the type when @odata.type is missing (Graph's documented GET example has
	// none; docs/graph.md §1.3).
	UserPrincipalName    *string         `json:"userPrincipalName"`
	ServicePrincipalType *string         `json:"servicePrincipalType"`
	AppID                *string         `json:"appId"`
	GroupTypes           json.RawMessage `json:"groupTypes"`
}

func (raw deletedObjectJSON) object() directory.DeletedObject {
	obj := directory.DeletedObject{RawType: raw.ODataType, DisplayName: raw.DisplayName}
	if id, err := directory.ParseObjectID(raw.ID); err == nil {
		obj.ID = id
	}
	if raw.ODataType != "" {
		if t, err := directory.ParseType(raw.ODataType); err == nil {
			obj.Type = t
		}
	} else {
		// Only unambiguous shapes are inferred; anything else stays unknown and the caller decides.
		switch {
		case raw.UserPrincipalName != nil:
			obj.Type = directory.User
		case raw.ServicePrincipalType != nil:
			obj.Type = directory.ServicePrincipal
		case raw.AppID != nil:
			obj.Type = directory.Application
		case raw.GroupTypes != nil:
			obj.Type = directory.Group
		}
	}
	if raw.DeletedDateTime != nil && *raw.DeletedDateTime != "" {
		if t, err := time.Parse(time.RFC3339Nano, *raw.DeletedDateTime); err == nil {
			obj.DeletedDateTime = t.UTC()
		}
	}
	obj.OnPremisesSyncEnabled = raw.OnPremSync != nil && *raw.OnPremSync
	return obj
}

// Purge permanently deletes the object: DELETE /directory/deletedItems/{id}, 204 on success.
func (c *Client) Purge(ctx context.Context, id directory.ObjectID) (directory.Call, error) {
	if id.IsZero() {
		return directory.Call{Method: http.MethodDelete}, errors.New("graph: DELETE with an empty object id")
	}
	call, _, err := c.do(ctx, http.MethodDelete, id.String(), "", http.StatusNoContent)
	return call, err
}

// do runs one call. A 401 is tried once more: the bearer-token policy drops its cached token on a 401, so
// the second try carries a freshly acquired one ("401 after a fresh token" is Forbidden, not before).
//
// item is the path segment after /directory/deletedItems/: a validated object id, or a type cast built from
// a known directory.Type — never text from outside. Every failure is a *directory.Error wrapping *Error
// (an answer) or *CallError (none).
func (c *Client) do(ctx context.Context, method, item, query string, want int) (directory.Call, []byte, error) {
	return c.doURL(ctx, method, c.base+"/directory/deletedItems/"+item+query, item, want)
}

// doURL runs one call to target, a URL this client built or checked; item names it in errors.
func (c *Client) doURL(ctx context.Context, method, target, item string, want int) (directory.Call, []byte, error) {
	clientRequestID := uuid.NewString()
	call := directory.Call{Method: method}
	ctx, rec := withRecord(ctx)
	var resp *http.Response
	for try := 1; ; try++ {
		req, err := runtime.NewRequest(ctx, method, target)
		if err != nil {
			return call, nil, &directory.Error{Kind: directory.Rejected, Call: call, Err: fmt.Errorf("graph: building %s request: %w", method, err)}
		}
		req.Raw().Header.Set("client-request-id", clientRequestID)
		resp, err = c.pl.Do(req)
		if err != nil {
			return c.noAnswer(method, item, rec, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 1 {
			runtime.Drain(resp)
			continue
		}
		break
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	call.Status, call.RequestID = resp.StatusCode, resp.Header.Get("request-id")
	if err != nil {
		return call, nil, &directory.Error{Kind: directory.Unreachable, Call: call,
			Err: &CallError{Method: method, ObjectID: item, Err: fmt.Errorf("reading the answer: %w", err)}}
	}
	if resp.StatusCode != want {
		ge := newError(method, item, resp, body, clientRequestID)
		call.Code, call.RequestID = ge.Code, ge.RequestID
		return call, nil, &directory.Error{Kind: ge.Kind(), Call: call, Message: ge.Message, RetryAfter: ge.RetryAfter, Err: ge}
	}
	return call, body, nil
}

// noAnswer is the error of a call whose last try got no answer (or was not made). What earlier tries got
// survives: a call that was throttled and then ran out of time is reported as throttled, with the 429's
// request-id and Retry-After, so its retry is never scheduled sooner than Graph asked.
func (c *Client) noAnswer(method, item string, rec *callRecord, err error) (directory.Call, []byte, error) {
	ce := &CallError{Method: method, ObjectID: item, Err: err}
	last, retryAfter := rec.snapshot()
	if last.Status == 0 {
		last = directory.Call{Method: method}
	}
	de := &directory.Error{Kind: ce.kind(), Call: last, RetryAfter: retryAfter, Err: ce}
	if w, ok := errors.AsType[*throttle.Wait](err); ok {
		de.Kind = directory.Paced
		de.RetryAfter = max(retryAfter, time.Until(w.Until))
		de.Message = w.Error()
	} else if last.Status != 0 {
		de.Kind = (&Error{StatusCode: last.Status, Code: last.Code}).Kind()
	}
	return last, nil, de
}

// CallError is a call that got no HTTP answer from Graph: a network failure, a timeout, or no token from
// the identity endpoint. It is always worth retrying later.
type CallError struct {
	Method   string
	ObjectID string
	Err      error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("graph: %s deletedItems/%s: %v", e.Method, e.ObjectID, e.Err)
}

func (e *CallError) Unwrap() error { return e.Err }

// kind is NoToken when the credential failed, else Unreachable.
func (e *CallError) kind() directory.ErrorKind {
	if _, ok := errors.AsType[*TokenError](e.Err); ok {
		return directory.NoToken
	}
	return directory.Unreachable
}

// TokenError is a failure to get a token from the credential (the managed-identity endpoint, or the
// developer chain locally). The graph client marks such failures so callers can tell "no token" from
// "Graph unreachable"; both are worth retrying later.
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "getting a token for Microsoft Graph: " + e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }

// markedCredential wraps every credential failure in *TokenError.
type markedCredential struct{ cred azcore.TokenCredential }

func (m markedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tk, err := m.cred.GetToken(ctx, opts)
	if err != nil {
		return tk, &TokenError{Err: err}
	}
	return tk, nil
}

// ProbeDeletedItems lists at most one deleted object of type t (GET /directory/deletedItems/microsoft.graph.{t}?$top=1).
// `handler check` uses it to prove that Graph is reachable and that the identity may read the recycle bin.
func (c *Client) ProbeDeletedItems(ctx context.Context, t directory.Type) (directory.Call, error) {
	known, err := directory.ParseType(string(t))
	if err != nil {
		return directory.Call{Method: http.MethodGet}, err
	}
	call, _, err := c.do(ctx, http.MethodGet, "microsoft.graph."+string(known), "?$top=1", http.StatusOK)
	return call, err
}
