package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/purge/purgetest"
)

// Example pins the schema of the one JSON line each invocation logs (stdout, and the answer's Logs). The
// alerts and queries in infra/ read these field names: change them only on purpose.
func Example() {
	s, out, _ := newServer(dir(user(), throttled("rid-429", 2*time.Minute)), &fakeBus{}, false)
	post(s, invocation(`{"id":"`+gid+`","reason":"leaver","requestedBy":"hr-flow","correlationId":"TKT-42"}`, ""))
	fmt.Print(strings.ReplaceAll(out.String(), `,"`, ",\n\"")) // one field per line, for reading
	// Output:
	// {"level":"info",
	// "time":"2026-11-28T12:00:00Z",
	// "outcome":"retry-scheduled",
	// "objectId":"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
	// "objectType":"user",
	// "messageId":"msg-1",
	// "originalMessageId":"msg-1",
	// "invocationId":"inv-1",
	// "deliveryCount":1,
	// "attempt":1,
	// "graphStatus":429,
	// "graphErrorCode":"TooManyRequests",
	// "graphRequestId":"rid-429",
	// "durationMs":0,
	// "reason":"leaver",
	// "requestedBy":"hr-flow",
	// "correlationId":"TKT-42",
	// "settlement":"retry-copy:purge-requests",
	// "description":"Retry scheduled for 2026-11-28T12:02:00Z: Graph is throttling requests (429); attempt 1 of 3.",
	// "graphMethod":"DELETE",
	// "retryAt":"2026-11-28T12:02:00Z",
	// "nextAttempt":2,
	// "deferred":false,
	// "message":"purge retry-scheduled"}
}

// throttled is Graph's 429 with a request-id and a Retry-After.
func throttled(requestID string, retryAfter time.Duration) error {
	e := purgetest.Err(directory.Throttled, 429, "TooManyRequests", retryAfter)
	e.Call.RequestID = requestID
	return e
}
