package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/entra-purge/entra-purge/internal/bus"
	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// The throttled runs' Graph: one write bucket of 100 tokens refilled 100 per 5 s (20 a second: Graph's
// 3,000 per 150 s at a thirtieth of the scale), shared by every instance — the same app and tenant.
const (
	bucketCapacity = 100
	bucketWindow   = 5 * time.Second
	// graphBudget is the writes-per-second budget infra/ divides among the instances (graphWritesPerSecond,
	// at most Graph's 20).
	graphBudget = 20
)

// writeCeiling is PURGE_MAX_WRITES_PER_SECOND as infra/main.bicep computes it for a maximum instance
// count: max(1, graphWritesPerSecond / maximumInstanceCount), integer division.
func writeCeiling(budget, instances int) int {
	return max(1, budget/instances)
}

// throttledResult is one throttled run.
type throttledResult struct {
	Instances       int     `json:"instances"`
	Requests        int     `json:"requests"`
	WritesPerSecond int     `json:"purgeMaxWritesPerSecond"`
	Purged          int     `json:"purged"`
	Deletes         int     `json:"deletes"`
	Deletes429      int     `json:"deletes429"`
	WindowSeconds   float64 `json:"windowSeconds"`
	BudgetUsed      float64 `json:"budgetUsed"`
	Share429        float64 `json:"share429"`
	Max429PerSecond int     `json:"max429PerSecond"`
	Lost            int     `json:"lost"`
	// Where the requests ended, and what is still pending (a request pending at the end is lost).
	Places      map[string]int `json:"places"`
	Deliveries  int            `json:"deliveries"`
	RetryCopies int            `json:"retryCopies"`
	Deferred    int            `json:"deferredCopies"`
	Outcomes    map[string]int `json:"outcomes"`
	TimedOut    bool           `json:"timedOut"`
	// Timeline is per second from the first DELETE: purges (204) and 429s.
	Timeline []secondCounts `json:"timeline"`
	Seconds  float64        `json:"seconds"`
}

type secondCounts struct {
	Purged    int `json:"purged"`
	Throttled int `json:"throttled"`
}

// runThrottled enqueues requests purge requests on the local stack's trigger queue, runs instances host
// stand-ins each with its own ./handler on that queue against one throttled Graph, follows the handlers'
// log lines until every request has reached an end, then checks each request's end on Graph and on the
// queues and reads the figures from the simulator's request log.
func runThrottled(ctx context.Context, root string, instances, requests, ceiling int, progress func(string, ...any)) (*throttledResult, error) {
	began := time.Now()
	if ceiling == 0 {
		ceiling = writeCeiling(graphBudget, instances)
	}
	res := &throttledResult{Instances: instances, Requests: requests, WritesPerSecond: ceiling}
	logDir, err := os.MkdirTemp("", fmt.Sprintf("entra-purge-bench-%d-", instances))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(logDir)
	stackCtx, stopStack := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStack()
	stack, err := localstack.Start(stackCtx, localstack.Options{
		AppRoot:   root,
		Graph:     graphsim.Options{Throttle: graphsim.ThrottleLimits{Writes: bucketCapacity, WriteWindow: bucketWindow}},
		Overrides: map[string]string{"PURGE_MAX_WRITES_PER_SECOND": strconv.Itoa(res.WritesPerSecond)},
	})
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	ids := addUsers(stack.Graph, requests)
	if err := enqueue(ctx, stack, ids); err != nil {
		return nil, err
	}
	progress("  enqueued %d requests; starting %d host stand-in(s) with PURGE_MAX_WRITES_PER_SECOND=%d", requests, instances, res.WritesPerSecond)

	track := newTracker(ids)
	var deliveries atomic.Int64
	hostCtx, stopHosts := context.WithCancel(ctx)
	defer stopHosts()
	var hostsDone sync.WaitGroup
	var hostErr error
	var hostErrMu sync.Mutex
	hosts := make([]*funchost.Host, instances)
	for i := range instances {
		logf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("host-%d.log", i+1)))
		if err != nil {
			return nil, err
		}
		defer logf.Close()
		hl := syncio.Writer(logf)
		h, err := funchost.New(funchost.Options{
			AppRoot: root, Settings: stack.Settings, Stdout: hl, Stderr: hl,
			HandlerStdout: track.writer(), HandlerStderr: hl,
			OnInvocation: func(funchost.Invocation) { deliveries.Add(1) },
			DrainTimeout: 5 * time.Second,
		})
		if err != nil {
			return nil, err
		}
		hosts[i] = h
		hostsDone.Go(func() {
			if err := h.Run(hostCtx); err != nil && hostCtx.Err() == nil {
				hostErrMu.Lock()
				hostErr = errors.Join(hostErr, err)
				hostErrMu.Unlock()
			}
		})
	}
	stopAll := func() {
		stopHosts()
		hostsDone.Wait()
	}
	defer stopAll()

	// Every request should end within what the budget allows plus a generous margin; past that the run
	// stops and whatever has not ended counts as lost.
	ideal := time.Duration(float64(requests-bucketCapacity) / (bucketCapacity / bucketWindow.Seconds()) * float64(time.Second))
	deadline := time.Now().Add(2*ideal + 60*time.Second)
	next := time.Now().Add(10 * time.Second)
	for track.ended() < requests {
		if time.Now().After(deadline) {
			res.TimedOut = true
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hostErrMu.Lock()
		err := hostErr
		hostErrMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("host stand-in: %w (logs were in %s)", err, logDir)
		}
		if time.Now().After(next) {
			progress("  %d of %d requests ended", track.ended(), requests)
			next = next.Add(10 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopAll()
	progress("  %d of %d requests ended; checking where each one is", track.ended(), requests)

	places, err := account(ctx, stack, ids, track)
	if err != nil {
		return nil, err
	}
	res.Places = map[string]int{}
	for _, id := range ids {
		ps := places[id]
		for _, p := range ps {
			res.Places[p]++
		}
		terminal := 0
		for _, p := range ps {
			if p != placePending {
				terminal++
			}
		}
		if terminal != 1 || len(ps) != 1 {
			res.Lost++
		}
	}
	res.Deliveries = int(deliveries.Load())
	res.Outcomes, res.RetryCopies, res.Deferred = track.counts()
	res.fromLog(stack.Graph.Requests())
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// enqueue sends one purge request per id, as `handler send --type user` builds it, a few at a time.
func enqueue(ctx context.Context, stack *localstack.Stack, ids []string) error {
	bc, err := bus.NewClient(stack.Bus.ConnectionString(), "", nil, nil)
	if err != nil {
		return err
	}
	defer bc.Close(context.WithoutCancel(ctx))
	queue := stack.Settings["PURGE_QUEUE_NAME"]
	work := make(chan string)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var first error
			for id := range work {
				body, _ := json.Marshal(map[string]string{"id": id, "type": "user", "reason": "bench", "requestedBy": "make-bench"})
				if err := bc.Send(ctx, queue, message.NewRequest(body, "")); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Where a request can be at the end of a run. Each must be in exactly one terminal place.
const (
	placePurged     = "purged"           // gone from the recycle bin (the simulator)
	placeAbsent     = "absent"           // the handler found nothing to purge and logged it
	placeFailed     = "failure queue"    // a failure copy on PURGE_FAILED_QUEUE_NAME
	placeDeadLetter = "$DeadLetterQueue" // the trigger queue's dead-letter queue
	placePending    = "trigger queue"    // still on the trigger queue (active or scheduled): not ended
)

// account finds every place each request is in.
func account(ctx context.Context, stack *localstack.Stack, ids []string, track *tracker) (map[string][]string, error) {
	places := map[string][]string{}
	for _, id := range ids {
		if stack.Graph.Purged(id) {
			places[id] = append(places[id], placePurged)
		}
		if track.absent(id) {
			places[id] = append(places[id], placeAbsent)
		}
	}
	client, err := azservicebus.NewClientFromConnectionString(stack.Bus.ConnectionString(), nil)
	if err != nil {
		return nil, err
	}
	defer client.Close(context.WithoutCancel(ctx))
	for _, q := range []struct {
		queue, place string
		sub          azservicebus.SubQueue
	}{
		{stack.Settings["PURGE_FAILED_QUEUE_NAME"], placeFailed, 0},
		{stack.Settings["PURGE_QUEUE_NAME"], placeDeadLetter, azservicebus.SubQueueDeadLetter},
		{stack.Settings["PURGE_QUEUE_NAME"], placePending, 0},
	} {
		msgs, err := peekAll(ctx, client, q.queue, q.sub)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			id := requestID(m.Body)
			places[id] = append(places[id], q.place)
		}
	}
	return places, nil
}

// peekAll lists every message of a queue (scheduled ones included) without taking any.
func peekAll(ctx context.Context, client *azservicebus.Client, queue string, sub azservicebus.SubQueue) ([]*azservicebus.ReceivedMessage, error) {
	r, err := client.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{SubQueue: sub})
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []*azservicebus.ReceivedMessage
	for {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		msgs, err := r.PeekMessages(pctx, 250, nil)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("peeking %s: %w", queue, err)
		}
		if len(msgs) == 0 {
			return out, nil
		}
		out = append(out, msgs...)
	}
}

// requestID is the object id of a request body the bench sent (and every copy carries unchanged).
func requestID(body []byte) string {
	var req struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	return strings.ToLower(req.ID)
}

// fromLog reads the figures from the simulator's request log: DELETEs and their 429s, the window from the
// first DELETE to the last purge, and the per-second timeline.
func (r *throttledResult) fromLog(reqs []graphsim.Request) {
	var first, last time.Time
	for _, q := range reqs {
		if q.Op != graphsim.OpPurge {
			continue
		}
		if first.IsZero() {
			first = q.Time
		}
		r.Deletes++
		switch q.Status {
		case 204:
			r.Purged++
			last = q.Time
		case 429:
			r.Deletes429++
		}
	}
	if r.Deletes == 0 {
		return
	}
	r.WindowSeconds = last.Sub(first).Seconds()
	r.BudgetUsed = budgetUsed(r.Purged, r.WindowSeconds)
	r.Share429 = float64(r.Deletes429) / float64(r.Deletes)
	for _, q := range reqs {
		if q.Op != graphsim.OpPurge {
			continue
		}
		s := int(q.Time.Sub(first) / time.Second)
		for len(r.Timeline) <= s {
			r.Timeline = append(r.Timeline, secondCounts{})
		}
		switch q.Status {
		case 204:
			r.Timeline[s].Purged++
		case 429:
			r.Timeline[s].Throttled++
		}
	}
	for _, c := range r.Timeline {
		r.Max429PerSecond = max(r.Max429PerSecond, c.Throttled)
	}
}

// budgetUsed is purged ÷ (capacity + refill × window): the share of the writes Graph would have
// admitted over the window that were purges.
func budgetUsed(purged int, windowSeconds float64) float64 {
	return float64(purged) / (bucketCapacity + bucketCapacity/bucketWindow.Seconds()*windowSeconds)
}

// tracker follows the handlers' log lines: each invocation's outcome by object id.
type tracker struct {
	mu        sync.Mutex
	want      map[string]bool
	ends      map[string]int // terminal outcomes per id
	absentIDs map[string]bool
	outcomes  map[string]int
	retries   int
	deferred  int
}

func newTracker(ids []string) *tracker {
	t := &tracker{want: map[string]bool{}, ends: map[string]int{}, absentIDs: map[string]bool{}, outcomes: map[string]int{}}
	for _, id := range ids {
		t.want[id] = true
	}
	return t
}

// writer is one handler's stdout (lines may be split across writes, so each handler gets its own).
func (t *tracker) writer() io.Writer { return syncio.Lines(t.line) }

func (t *tracker) line(b []byte) {
	var ev struct {
		Outcome  string `json:"outcome"`
		ObjectID string `json:"objectId"`
		Deferred bool   `json:"deferred"`
	}
	if json.Unmarshal(b, &ev) != nil || ev.Outcome == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.outcomes[ev.Outcome]++
	switch ev.Outcome {
	case "purged", "failed", "dry-run":
		t.ends[ev.ObjectID]++
	case "absent":
		t.ends[ev.ObjectID]++
		t.absentIDs[ev.ObjectID] = true
	case "retry-scheduled":
		t.retries++
		if ev.Deferred {
			t.deferred++
		}
	}
}

// ended counts the requests that reached a terminal outcome.
func (t *tracker) ended() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id := range t.ends {
		if t.want[id] {
			n++
		}
	}
	return n
}

func (t *tracker) absent(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.absentIDs[id]
}

func (t *tracker) counts() (map[string]int, int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for k, v := range t.outcomes {
		out[k] = v
	}
	return out, t.retries, t.deferred
}
