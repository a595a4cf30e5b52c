// Package purgetest has the fake of the domain's one outside dependency, [purge.Directory], shared by the
// tests of every package that decides purges (purge, server, the handler's commands), so no test writes
// its own.
package purgetest

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/purge"
)

var _ purge.Directory = (*Directory)(nil)

// Directory answers from fixed results and records the calls, so a test can assert that a check stopped a
// request before Graph (or before the DELETE). The zero value answers every read with a zero object and
// every purge with 204. It is safe for concurrent use.
type Directory struct {
	// Object is what DeletedObject returns when GetErr is nil.
	Object directory.DeletedObject
	// GetErr and PurgeErr, when set, are returned by DeletedObject and Purge.
	GetErr, PurgeErr error
	// GetRequestID and PurgeRequestID are the request-ids of successful answers ("req-get", "req-del" when
	// empty).
	GetRequestID, PurgeRequestID string

	mu    sync.Mutex
	calls []string
}

// DeletedObject implements purge.Directory.
func (d *Directory) DeletedObject(_ context.Context, id directory.ObjectID) (directory.DeletedObject, directory.Call, error) {
	d.record("GET " + id.String())
	if d.GetErr != nil {
		return directory.DeletedObject{}, callOf(d.GetErr), d.GetErr
	}
	return d.Object, directory.Call{Method: "GET", Status: 200, RequestID: or(d.GetRequestID, "req-get")}, nil
}

// Purge implements purge.Directory.
func (d *Directory) Purge(_ context.Context, id directory.ObjectID) (directory.Call, error) {
	d.record("DELETE " + id.String())
	if d.PurgeErr != nil {
		return callOf(d.PurgeErr), d.PurgeErr
	}
	return directory.Call{Method: "DELETE", Status: 204, RequestID: or(d.PurgeRequestID, "req-del")}, nil
}

// Calls returns the calls made so far, as "GET <id>" and "DELETE <id>", in order; never nil.
func (d *Directory) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string{}, d.calls...)
}

// Purges counts the DELETEs made so far.
func (d *Directory) Purges() int {
	n := 0
	for _, c := range d.Calls() {
		if strings.HasPrefix(c, "DELETE ") {
			n++
		}
	}
	return n
}

func (d *Directory) record(call string) {
	d.mu.Lock()
	d.calls = append(d.calls, call)
	d.mu.Unlock()
}

// Err is a directory error as the Graph client would return it for an answer with status and code;
// retryAfter is the Retry-After Graph sent. Its request-id is "req-err".
func Err(kind directory.ErrorKind, status int, code string, retryAfter time.Duration) *directory.Error {
	return &directory.Error{Kind: kind, Call: directory.Call{Status: status, Code: code, RequestID: "req-err"}, RetryAfter: retryAfter,
		Err: &answerError{status: status, code: code}}
}

// ErrMessage is Err with Graph's error message.
func ErrMessage(kind directory.ErrorKind, status int, code, message string) *directory.Error {
	e := Err(kind, status, code, 0)
	e.Message = message
	return e
}

// Unreachable is a call that got no answer, because of cause.
func Unreachable(kind directory.ErrorKind, cause error) *directory.Error {
	return &directory.Error{Kind: kind, Err: cause}
}

func callOf(err error) directory.Call {
	if de, ok := err.(*directory.Error); ok {
		return de.Call
	}
	return directory.Call{}
}

// answerError renders like the Graph client's errors do: status first, so descriptions quote it.
type answerError struct {
	status int
	code   string
}

func (e *answerError) Error() string {
	return "graph: " + strconv.Itoa(e.status) + " " + e.code
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
