package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/throttle"
)

// callRecord is what the tries of one logical call learned: the last answer and the longest Retry-After.
// It lets a call that ran out of time still say it was throttled, and when it may be retried, so the retry
// copy is never scheduled sooner than a Retry-After Graph sent.
type callRecord struct {
	mu         sync.Mutex
	last       directory.Call
	retryAfter time.Duration
}

type recordKey struct{}

func withRecord(ctx context.Context) (context.Context, *callRecord) {
	rec := &callRecord{}
	return context.WithValue(ctx, recordKey{}, rec), rec
}

func (r *callRecord) snapshot() (directory.Call, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.retryAfter
}

// pacePolicy runs before every try of a call (in-process retries included): it waits for the call's turn
// with the process-wide throttle controller, then tells the controller and the call's record what Graph
// answered. A turn past the call's deadline fails the try at once with a *throttle.Wait.
type pacePolicy struct {
	ctl *throttle.Controller
	now func() time.Time
}

// callMargin is the time kept, after a turn, for the call itself before the deadline.
const callMargin = 2 * time.Second

func classOf(method string) throttle.Class {
	if method == http.MethodGet {
		return throttle.Read
	}
	return throttle.Write
}

func (p pacePolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	class := classOf(raw.Method)
	if p.ctl != nil {
		if err := p.ctl.Wait(raw.Context(), class, callMargin); err != nil {
			if w, ok := errors.AsType[*throttle.Wait](err); ok {
				return nil, pacedError{w}
			}
			return nil, err
		}
	}
	resp, err := req.Next()
	if err != nil {
		return resp, err
	}
	now := p.now()
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	if p.ctl != nil {
		usage, _ := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("x-ms-throttle-limit-percentage")), 64)
		p.ctl.Observe(class, now, throttle.Answer{Status: resp.StatusCode, RetryAfter: retryAfter, Usage: usage})
	}
	if rec, ok := raw.Context().Value(recordKey{}).(*callRecord); ok {
		call := directory.Call{Method: raw.Method, Status: resp.StatusCode, RequestID: resp.Header.Get("request-id")}
		if resp.StatusCode >= 400 {
			call.Code = peekErrorCode(resp)
		}
		rec.mu.Lock()
		rec.last = call
		rec.retryAfter = max(rec.retryAfter, retryAfter)
		rec.mu.Unlock()
	}
	return resp, nil
}

// pacedError is a try that was not made because its turn comes after its deadline. It tells azcore's
// retry policy not to retry it: waiting is exactly what the deadline does not allow.
type pacedError struct{ *throttle.Wait }

func (pacedError) NonRetriable()   {}
func (e pacedError) Unwrap() error { return e.Wait }

// peekErrorCode reads Graph's error code from an error answer and puts the body back for the caller.
func peekErrorCode(resp *http.Response) string {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &env)
	return env.Error.Code
}
