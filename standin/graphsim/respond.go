package graphsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ContentTypeJSON is the Content-Type Graph puts on JSON answers.
const ContentTypeJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// Verbatim (or [C]) Graph messages, docs/graph.md §3.2.
const (
	msgTokenEmpty     = "Access token is empty."
	msgTokenExpired   = "Access token has expired or is not yet valid."
	msgTokenInvalid   = "Access token validation failure."
	msgTokenAudience  = "Access token validation failure. Invalid audience."
	msgForbidden      = "Insufficient privileges to complete the operation."
	msgUnsupportedAll = "Searches against this resource are not supported. Only specific instances can be queried."
)

func notFoundMessage(id string) string {
	return "Resource '" + id + "' does not exist or one of its queried reference-property objects are not present."
}

// wwwAuthenticate is sent with every 401, in the form Graph uses.
const wwwAuthenticate = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`

// agsDiagnostic is the x-ms-ags-diagnostic value (docs/graph.md §6.2 shape).
const agsDiagnostic = `{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"GRAPHSIM","ADSiteName":"LOC"}}`

// response is an answer under construction; ServeHTTP writes it after any delay.
type response struct {
	status int
	header http.Header
	body   []byte
	code   string // Graph error code, for the request log
}

func newResponse(status int) *response { return &response{status: status, header: http.Header{}} }

func (r *response) json(v any) *response {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and structs built here are marshalled
	}
	r.body = b
	r.header.Set("Content-Type", ContentTypeJSON)
	r.header.Set("OData-Version", "4.0")
	return r
}

// graphError is the OData error envelope, with innerError as real responses spell it.
type graphError struct {
	Error mainError `json:"error"`
}

type mainError struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	InnerError innerError `json:"innerError"`
}

// innerError carries date (UTC, no zone suffix), request-id and client-request-id; a 429 also
// carries code, message and status, as in the throttling doc's sample.
type innerError struct {
	Code            string `json:"code,omitempty"`
	Date            string `json:"date"`
	Message         string `json:"message,omitempty"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
	Status          string `json:"status,omitempty"`
}

// rc is the per-request context the handlers share.
type rc struct {
	now             time.Time
	requestID       string
	clientRequestID string
}

func (c *rc) errorResponse(status int, code, message string) *response {
	inner := innerError{Date: c.now.UTC().Format("2006-01-02T15:04:05"), RequestID: c.requestID, ClientRequestID: c.clientRequestID}
	if status == http.StatusTooManyRequests {
		inner.Code, inner.Message, inner.Status = "429", "Please retry after", "429"
	}
	r := newResponse(status).json(graphError{Error: mainError{Code: code, Message: message, InnerError: inner}})
	r.code = code
	if status == http.StatusUnauthorized {
		r.header.Set("WWW-Authenticate", wwwAuthenticate)
	}
	return r
}

// write sends r with the headers every Graph answer carries. Graph's own headers are written in
// the lower case Graph uses (Go would canonicalise "request-id" to "Request-Id"); header lookups
// are case-insensitive either way.
func (c *rc) write(w http.ResponseWriter, r *response) {
	h := w.Header()
	h["request-id"] = []string{c.requestID}
	h["client-request-id"] = []string{c.clientRequestID}
	h["x-ms-ags-diagnostic"] = []string{agsDiagnostic}
	h["x-ms-resource-unit"] = []string{"1"}
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cache-Control", "no-cache")
	h.Set("Date", c.now.UTC().Format(http.TimeFormat))
	for k, v := range r.header {
		if strings.HasPrefix(k, "X-Ms-") || k == "Request-Id" || k == "Client-Request-Id" {
			k = strings.ToLower(k)
		}
		h[k] = v
	}
	if r.body != nil {
		h.Set("Content-Length", strconv.Itoa(len(r.body)))
	}
	w.WriteHeader(r.status)
	if r.body != nil {
		_, _ = w.Write(r.body)
	}
}
