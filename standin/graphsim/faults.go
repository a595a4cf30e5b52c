package graphsim

import (
	"net/http"
	"strings"
	"time"
)

// AnyObject as the id of Script, Always or ClearFaults makes the steps answer a GET or DELETE of any
// object id that no step of its own answered: a Graph-wide outage (a burst of 503s, a 429 storm) rather
// than one object's trouble. The typed LIST is not affected.
const AnyObject = "*"

// Step is one scripted answer for one object id (or AnyObject). Steps are consulted after the token
// check and the id syntax check but before throttling and before the object is looked up, so a step
// can answer for an id the simulator does not hold.
type Step struct {
	// Method the step answers ("GET", "DELETE"); "" or "*" answers any method. Requests with
	// another method pass the step by without using it up.
	Method string
	// Status to answer. 0 means "behave normally" (useful with Delay, or to let one request through
	// in a sequence).
	Status int
	// Code and Message of the Graph error body; empty takes the default for Status (defaultError).
	Code, Message string
	// RetryAfter is sent verbatim as the Retry-After header when non-empty ("2", "0.5", or an
	// HTTP date).
	RetryAfter string
	// Delay holds the answer back (the delay ends early if the client goes away, so a very long one is
	// a call that never answers). With Status 0 the request takes effect first and only the response
	// is late, like a real timeout where the DELETE may have happened. The request log records it.
	Delay time.Duration
}

func (st Step) matches(method string) bool {
	return st.Method == "" || st.Method == "*" || strings.EqualFold(st.Method, method)
}

// faults holds scripted and permanent steps per object id.
type faults struct {
	scripts map[string][]Step
	always  map[string]Step
}

// next removes and returns the step answering (id, method): the first matching scripted step, else
// the permanent one — the object's own first, then, for an object id (not a LIST's key), AnyObject's.
func (f *faults) next(id, method string) (Step, bool) {
	if id == "" {
		return Step{}, false
	}
	keys := []string{id}
	if isGUID(id) {
		keys = append(keys, AnyObject)
	}
	for _, key := range keys {
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

// ClearAlways removes the permanent step of id (or AnyObject), keeping its scripted ones: the end of an
// outage does not cancel a hang scripted meanwhile.
func (s *Server) ClearAlways(id string) {
	id = strings.ToLower(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults.always, id)
}

// ClearFaults removes the scripted and permanent steps of id.
func (s *Server) ClearFaults(id string) {
	id = strings.ToLower(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults.scripts, id)
	delete(s.faults.always, id)
}

// defaultError is the Graph code and message used for a status when a Step gives none
// (docs/graph.md §3.2; verbatim where the reference has the text, plausible otherwise).
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
