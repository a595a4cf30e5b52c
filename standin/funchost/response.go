package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// replyClass is what the host makes of a handler's answer (docs/functions-host.md §5.1).
type replyClass int

const (
	// replySuccess: the invocation succeeded; the message is completed.
	replySuccess replyClass = iota
	// replyFailure: the invocation failed; the message is abandoned and the body,
	// including Logs, is ignored.
	replyFailure
	// replyHang: ReadAsAsync returned null (empty body or the literal null), so
	// the host never completes the invocation; it runs into functionTimeout.
	replyHang
)

// reply is a classified answer.
type reply struct {
	class   replyClass
	outcome Outcome // for failures and hangs
	reason  string  // the host's error text for failures
	logs    []string
}

// classifyReply mirrors DefaultHttpWorkerService.ProcessDefaultInvocationRequest:
// EnsureSuccessStatusCode, then ReadAsAsync<HttpScriptInvocationResult> with the
// default JSON formatter.
func classifyReply(status int, header http.Header, contentLength int64, body []byte) reply {
	if status < 200 || status > 299 {
		return reply{class: replyFailure, outcome: OutcomeHTTPStatus,
			reason: fmt.Sprintf("Response status code does not indicate success: %d (%s).", status, http.StatusText(status))}
	}
	mediaType := "application/octet-stream" // what HttpContent assumes without a Content-Type
	if ct := header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			mediaType = strings.ToLower(mt)
		} else {
			mediaType = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
		}
	}
	isJSON := mediaType == "application/json" || mediaType == "text/json"
	// A declared length of 0 short-circuits to null before any formatter is
	// chosen; with no length (chunked) the formatter lookup comes first.
	if len(body) == 0 && (contentLength == 0 || isJSON) {
		return reply{class: replyHang, outcome: OutcomeHang}
	}
	if !isJSON {
		return reply{class: replyFailure, outcome: OutcomeMediaType,
			reason: fmt.Sprintf("No MediaTypeFormatter is available to read an object of type 'HttpScriptInvocationResult' from content with media type '%s'.", mediaType)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return reply{class: replyHang, outcome: OutcomeHang} // Newtonsoft deserializes no tokens as null
	}
	// Newtonsoft reads one value and ignores anything after it.
	var v json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&v); err != nil {
		return reply{class: replyFailure, outcome: OutcomeInvalidBody, reason: "Invalid HttpResponseMessage: " + err.Error()}
	}
	switch v[0] {
	case 'n':
		return reply{class: replyHang, outcome: OutcomeHang}
	case '{':
	default:
		return reply{class: replyFailure, outcome: OutcomeInvalidBody,
			reason: "Invalid HttpResponseMessage: cannot deserialize HttpScriptInvocationResult from " + firstToken(v)}
	}
	var res struct { // property names match case-insensitively, as in Newtonsoft
		Logs    json.RawMessage
		Outputs json.RawMessage
	}
	if err := json.Unmarshal(v, &res); err != nil {
		return reply{class: replyFailure, outcome: OutcomeInvalidBody, reason: "Invalid HttpResponseMessage: " + err.Error()}
	}
	if len(res.Outputs) > 0 && res.Outputs[0] != '{' && string(res.Outputs) != "null" {
		return reply{class: replyFailure, outcome: OutcomeInvalidBody, reason: "Invalid HttpResponseMessage: Outputs is not an object"}
	}
	logs, err := parseLogs(res.Logs)
	if err != nil {
		return reply{class: replyFailure, outcome: OutcomeInvalidBody, reason: "Invalid HttpResponseMessage: " + err.Error()}
	}
	return reply{class: replySuccess, outcome: OutcomeSuccess, logs: logs}
}

// parseLogs reads Logs into List<string>: strings as they are, numbers as their
// text, booleans as "True"/"False", nulls skipped; objects and arrays are a
// deserialization error.
func parseLogs(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("the Logs property is not an array of strings")
	}
	var out []string
	for _, it := range items {
		switch it[0] {
		case '"':
			var s string
			_ = json.Unmarshal(it, &s)
			out = append(out, s)
		case 'n':
		case 't':
			out = append(out, "True")
		case 'f':
			out = append(out, "False")
		case '{', '[':
			return nil, fmt.Errorf("the Logs entry %s is not a string", it)
		default:
			out = append(out, string(it))
		}
	}
	return out, nil
}

func firstToken(v json.RawMessage) string {
	switch v[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
