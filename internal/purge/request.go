// Package purge is the domain of entra-purge: what a purge request is, which checks it must pass, and what
// becomes of it. It decides; it does not talk to Service Bus or the Functions host. Given a delivery of one
// message, [Processor.Decide] returns a [Decision]: an [Outcome] (purged, absent, retry-scheduled, failed,
// dry-run), a [Reason] for failures, and everything a log line or a failure-queue message needs.
package purge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/entra-purge/entra-purge/internal/directory"
)

// MaxBodySize is the largest message body accepted (docs/contract.md §2.3). A purge request is one small object;
// anything bigger is a mistake, not a request.
const MaxBodySize = 64 << 10

// maxAuditLen bounds the audit fields carried into logs and failure messages.
const maxAuditLen = 256

// Request is one validated purge request.
type Request struct {
	ID   directory.ObjectID
	Type directory.Type // the type the sender expects; empty if not given
	// NotBefore, when set, is the earliest time the purge may happen (an approval or grace period).
	NotBefore time.Time

	// Audit fields, carried into logs and failure messages.
	Reason        string
	RequestedBy   string
	CorrelationID string
}

// ErrInvalidRequest is matched (errors.Is) by every error ParseRequest returns.
var ErrInvalidRequest = errors.New("invalid purge request")

// RequestError is why a body is not a purge request. Problem is a phrase for a person ("the body is
// empty"), which the failure description quotes as it is.
type RequestError struct {
	Problem string
}

func (e *RequestError) Error() string { return ErrInvalidRequest.Error() + ": " + e.Problem }

// Is makes every RequestError match ErrInvalidRequest.
func (e *RequestError) Is(target error) bool { return target == ErrInvalidRequest }

// ParseRequest reads a message body: a JSON object with an "id" (or "objectId"), or the bare object id as
// text, optionally quoted or surrounded by white space. A JSON string holding a JSON object (a body that a
// sender serialised twice) is accepted too. Nothing here touches the network.
func ParseRequest(body []byte) (Request, error) {
	if len(body) > MaxBodySize {
		return Request{}, invalid("the body is %d bytes; a purge request is at most %d", len(body), MaxBodySize)
	}
	if !utf8.Valid(body) {
		return Request{}, invalid("the body is not UTF-8 text")
	}
	text := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(text) == 0 {
		return Request{}, invalid("the body is empty")
	}
	switch text[0] {
	case '{':
		return parseObject(text)
	case '[':
		return Request{}, invalid("the body is a JSON array; send one message per object")
	case '"':
		var s string
		if err := json.Unmarshal(text, &s); err != nil {
			return Request{}, invalid("the body starts with a quote but is not a JSON string")
		}
		inner := strings.TrimSpace(s)
		if strings.HasPrefix(inner, "{") {
			return parseObject([]byte(inner))
		}
		return parseBareID(inner)
	}
	return parseBareID(string(text))
}

func parseBareID(s string) (Request, error) {
	id, err := directory.ParseObjectID(strings.TrimSpace(s))
	if err != nil {
		return Request{}, invalid("the body is neither a JSON object nor an object id: %v", err)
	}
	return Request{ID: id}, nil
}

func parseObject(text []byte) (Request, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(text, &fields); err != nil {
		return Request{}, invalid("the body is not valid JSON: %v", jsonProblem(err))
	}
	var r Request
	str := func(name string) (string, bool, error) {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true, invalid("%q must be a string", name)
		}
		return s, true, nil
	}

	id, hasID, err := str("id")
	if err != nil {
		return r, err
	}
	objectID, hasObjectID, err := str("objectId")
	if err != nil {
		return r, err
	}
	switch {
	case hasID && hasObjectID && !strings.EqualFold(strings.TrimSpace(id), strings.TrimSpace(objectID)):
		return r, invalid(`"id" and "objectId" name different objects`)
	case !hasID && !hasObjectID:
		return r, invalid(`the JSON object has no "id"`)
	case !hasID:
		id = objectID
	}
	if r.ID, err = directory.ParseObjectID(strings.TrimSpace(id)); err != nil {
		return r, invalid(`"id": %v`, err)
	}

	if t, ok, err := str("type"); err != nil {
		return r, err
	} else if ok && strings.TrimSpace(t) != "" {
		if r.Type, err = directory.ParseType(t); err != nil {
			return r, invalid(`"type": %v`, err)
		}
	}
	if nb, ok, err := str("notBefore"); err != nil {
		return r, err
	} else if ok && strings.TrimSpace(nb) != "" {
		t, perr := time.Parse(time.RFC3339Nano, strings.TrimSpace(nb))
		if perr != nil {
			return r, invalid(`"notBefore" %q is not an RFC 3339 time such as 2026-12-01T09:00:00Z`, clip(nb))
		}
		r.NotBefore = t.UTC()
	}
	for name, dst := range map[string]*string{"reason": &r.Reason, "requestedBy": &r.RequestedBy, "correlationId": &r.CorrelationID} {
		v, _, err := str(name)
		if err != nil {
			return r, err
		}
		*dst = clip(strings.TrimSpace(v))
	}
	return r, nil
}

// jsonProblem turns encoding/json's error into a short phrase for a person.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "the top level must be a JSON object"
	}
	return err.Error()
}

func invalid(format string, args ...any) error {
	return &RequestError{Problem: fmt.Sprintf(format, args...)}
}

func clip(s string) string {
	if len(s) <= maxAuditLen {
		return s
	}
	cut := maxAuditLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
