package graphsim

import (
	"net/http"
	"strings"
	"time"
)

// AnyObject as the id of Script or Always applies the steps to every deletedItems request (LIST
// included) that no object-specific step answered.
const AnyObject = "*"

// Step is one scripted answer. Scripts apply to the deletedItems routes (GET, DELETE, LIST and
// restore), not to the soft-delete helper routes, and are consulted after the token check and the
// id syntax check but before throttling and before the object is looked up, so a step can answer
// for an id the simulator does not hold.
type Step struct {
	// Method the step answers ("GET", "DELETE", "POST"); "" or "*" answers any method. Requests
	// with another method pass the step by without using it up.
	Method string
	// Status to answer. 0 means "behave normally" (useful with Delay, or to let one request through
	// in a sequence).
	Status int
	// Code and Message of the Graph error body; empty takes the default for Status (defaultError).
	Code, Message string
	// RetryAfter is sent verbatim as the Retry-After header when non-empty ("2", "0.5", or an
	// HTTP date).
	RetryAfter string
	// Delay holds the answer back. With Status 0 the request takes effect first and only the
	// response is late, like a real timeout where the DELETE may have happened.
	Delay time.Duration
	// Body, when non-empty, replaces the Graph error JSON (e.g. an HTML page from a gateway); Bare
	// sends no body at all. Either makes the answer a non-Graph one, as a proxy can produce.
	Body string
	Bare bool
	// Header adds or overrides response headers.
	Header http.Header
}

func (st Step) matches(method string) bool {
	return st.Method == "" || st.Method == "*" || strings.EqualFold(st.Method, method)
}

// faults holds scripted and permanent steps per object id.
type faults struct {
	scripts map[string][]Step
	always  map[string]Step
}

// next removes and returns the step answering (id, method), trying id first and then AnyObject:
// the first matching scripted step, else the permanent one.
func (f *faults) next(id, method string) (Step, bool) {
	for _, key := range []string{id, AnyObject} {
		if key == "" {
			continue
		}
		q := f.scripts[key]
		for i, st := range q {
			if st.matches(method) {
				f.scripts[key] = append(q[:i:i], q[i+1:]...)
				if len(f.scripts[key]) == 0 {
					delete(f.scripts, key)
				}
				return st, true
			}
		}
		if st, ok := f.always[key]; ok && st.matches(method) {
			return st, true
		}
	}
	return Step{}, false
}

// Script appends steps to id's queue; they are used up in order, one per matching request, after
// which the object behaves normally again.
func (s *Server) Script(id string, steps ...Step) {
	id = strings.ToLower(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.scripts[id] = append(s.faults.scripts[id], steps...)
}

// Always makes every matching request for id answer step (after any scripted steps) until
// ClearFaults. A Step with Status 0 and a Delay makes the object permanently slow.
func (s *Server) Always(id string, step Step) {
	id = strings.ToLower(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.always[id] = step
}

// ClearFaults removes the scripted and permanent steps of id.
func (s *Server) ClearFaults(id string) {
	id = strings.ToLower(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults.scripts, id)
	delete(s.faults.always, id)
}

// SetLatency delays every answer by d (0 = off). As with Step.Delay, the request takes effect
// first; the delay ends early if the client goes away.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// defaultError is the Graph code and message used for a status when a Step gives none
// (graph.md §3.2; verbatim where the reference has the text, plausible otherwise).
func defaultError(status int, id string) (code, message string) {
	switch status {
	case http.StatusBadRequest:
		return "Request_BadRequest", "Invalid request."
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken", msgTokenInvalid
	case http.StatusForbidden:
		return "Authorization_RequestDenied", msgForbidden
	case http.StatusNotFound:
		return "Request_ResourceNotFound", notFoundMessage(id)
	case http.StatusConflict:
		return "Directory_ConcurrencyViolation", "Error due to concurrent requests being made to the tenant. Please wait briefly and retry."
	case http.StatusTooManyRequests:
		return "TooManyRequests", "Please retry again later."
	case http.StatusInternalServerError:
		return "Service_InternalServerError", "Encountered an internal server error."
	case http.StatusBadGateway:
		return "BadGateway", "The server, while acting as a gateway, received an invalid response."
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable", "The service is temporarily unavailable. Please retry after a delay."
	case http.StatusGatewayTimeout:
		return "GatewayTimeout", "The gateway did not receive a timely response from the upstream service."
	case http.StatusInsufficientStorage:
		return "insufficientStorage", "The maximum storage quota has been reached."
	}
	return "UnknownError", http.StatusText(status)
}
