package graphsim

import (
	"encoding/json"
	"strings"
	"time"
)

// Request is one entry of the request log. It lets tests assert on what a client did ("no DELETE
// for id X", "the retry came at least Retry-After after the 429") without a proxy. Tokens are never
// kept: only whether an Authorization header was sent and the roles of a verified token.
type Request struct {
	// Time the request arrived, on the simulator's clock (Options.Now).
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Query  string    `json:"query,omitempty"`
	// Op is one of the Op* constants; empty when the route was not understood.
	Op string `json:"op,omitempty"`
	// ObjectID is the id from the path, lower-cased when it is a GUID.
	ObjectID string `json:"objectId,omitempty"`
	Status   int    `json:"status"`
	// Code is the Graph error code of an error answer.
	Code       string `json:"code,omitempty"`
	RetryAfter string `json:"retryAfter,omitempty"`
	// ClientRequestID as answered (the client's, or RequestID when it sent none).
	ClientRequestID string `json:"clientRequestId"`
	RequestID       string `json:"requestId"`
	// AppID and Roles of the caller, when its token verified.
	AppID string   `json:"appId,omitempty"`
	Roles []string `json:"roles,omitempty"`
	// Authorization reports whether an Authorization header was present at all.
	Authorization bool `json:"authorization"`
	// Injected is true when a scripted Step produced the answer.
	Injected bool `json:"injected,omitempty"`
	// DelayMs is how long a scripted Step held the answer back (it ends early if the client left).
	DelayMs int64 `json:"delayMs,omitempty"`
}

func (s *Server) record(rec Request) {
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	if s.opts.Log == nil {
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	_, _ = s.opts.Log.Write(append(b, '\n'))
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// RequestsFor returns the logged requests whose path named object id.
func (s *Server) RequestsFor(id string) []Request {
	id = strings.ToLower(id)
	var out []Request
	for _, r := range s.Requests() {
		if r.ObjectID == id {
			out = append(out, r)
		}
	}
	return out
}
