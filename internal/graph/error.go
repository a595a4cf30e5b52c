package graph

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
)

// Error is an answer from Graph other than the one the call expected. Graph's error JSON
// ({"error":{"code","message","innerError"|"innererror"}}) is parsed when present; a body without it (a
// proxy or gateway answer) still gives a usable Error from the status alone.
type Error struct {
	Method          string
	ObjectID        string
	StatusCode      int
	Code            string // error.code, e.g. Request_ResourceNotFound; code against this, never Message
	Message         string
	RequestID       string // the request-id header, or innerError.request-id
	ClientRequestID string
	// RetryAfter is the Retry-After Graph sent (seconds, fractional seconds, or an HTTP date); zero if none.
	RetryAfter time.Duration
	// ThrottleScope and ThrottleInformation are Graph's x-ms-throttle-scope / -information headers on 429s.
	ThrottleScope       string
	ThrottleInformation string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph: %s deletedItems/%s: %d %s", e.Method, e.ObjectID, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s", e.Code)
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", e.Message)
		}
		b.WriteString(")")
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " request-id %s", e.RequestID)
	}
	return b.String()
}

// Kind classifies the answer for the purge domain: the one place where Graph's status codes are read.
func (e *Error) Kind() directory.ErrorKind {
	switch {
	case e.StatusCode == http.StatusNotFound:
		return directory.NotFound
	case e.HardDeleteProtected():
		return directory.HardDeleteProtected
	case e.StatusCode == http.StatusTooManyRequests:
		return directory.Throttled
	case e.Transient():
		return directory.Unavailable
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return directory.Forbidden
	}
	return directory.Rejected
}

// Transient reports whether Graph said to try again later: throttling, service errors and write conflicts
// (docs/graph.md §3.2). 404 is not transient here: whether it is replication lag is the caller's decision.
func (e *Error) Transient() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return true
	case http.StatusConflict:
		return e.Code == "" || e.Code == "Directory_ConcurrencyViolation"
	}
	return false
}

// NotFound reports a 404: the id is not in the recycle bin (not yet replicated, already purged, or never
// deleted).
func (e *Error) NotFound() bool { return e.StatusCode == http.StatusNotFound }

// HardDeleteProtected reports Graph refusing a purge inside the hard-deletion protection window (seven days
// after a protected object's soft delete). Graph documents no code for it (docs/graph.md §7.3), so it is
// recognised by its wording as well as by codes containing "HardDelet".
func (e *Error) HardDeleteProtected() bool {
	if e.StatusCode != http.StatusBadRequest && e.StatusCode != http.StatusForbidden && e.StatusCode != http.StatusConflict {
		return false
	}
	text := strings.ToLower(e.Code + " " + e.Message)
	return strings.Contains(text, "harddelet") || strings.Contains(text, "hard delet") || strings.Contains(text, "hard-delet")
}

func newError(method, id string, resp *http.Response, body []byte, clientRequestID string) *Error {
	e := &Error{
		Method:              method,
		ObjectID:            id,
		StatusCode:          resp.StatusCode,
		RequestID:           resp.Header.Get("request-id"),
		ClientRequestID:     clientRequestID,
		RetryAfter:          parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		ThrottleScope:       resp.Header.Get("x-ms-throttle-scope"),
		ThrottleInformation: resp.Header.Get("x-ms-throttle-information"),
	}
	var env struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *inner `json:"innerError"`
			InnerLower *inner `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		in := env.Error.InnerError
		if in == nil {
			in = env.Error.InnerLower
		}
		if in != nil && e.RequestID == "" {
			e.RequestID = in.RequestID
		}
	}
	if len(e.Message) > 500 {
		e.Message = e.Message[:500] + "…"
	}
	return e
}

type inner struct {
	RequestID string `json:"request-id"`
}

// parseRetryAfter reads Retry-After as (fractional) seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 24*3600 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
