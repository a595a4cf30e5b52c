package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	purgemsg "github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/sbemu"
)

// The issue-9 loop: with the host running, requests that fail for a cause nobody fixed (the identity may
// not read groups) are replayed. The replayed copies fail again and land on the failure queue with new
// sequence numbers; replay does not take them again: it moves each message once and ends.
func TestReplayEndsWhenTheCauseIsNotFixed(t *testing.T) {
	s := startStack(t, localstack.Options{})
	groups := []string{}
	for range 3 {
		g := deleted("group", time.Hour)
		s.Graph.Add(g)
		groups = append(groups, g.ID)
	}
	out := newOutcomes()
	runHost(t, hostRoot(t), s, nil, nil, out)
	c := busClient(t, s)
	if o, code := cli(t, s, "", append([]string{"send"}, groups...)...); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, o)
	}
	waitQueue(t, c, "purge-failed", 3)

	start := time.Now()
	o, code := cli(t, s, "", "replay", "--reason", "Forbidden", "--output", "json")
	var rep struct {
		Replayed []purgemsg.FailedMessage
		Count    int
		Error    string
	}
	if err := json.Unmarshal([]byte(o[:strings.LastIndex(o, "}")+1]), &rep); err != nil || code != 0 || rep.Count != 3 || rep.Error != "" {
		t.Fatalf("replay: exit %d after %s, %v\n%s", code, time.Since(start), err, o)
	}
	seen := map[string]bool{}
	for _, m := range rep.Replayed {
		if seen[m.ObjectID] {
			t.Errorf("%s replayed twice in one run", m.ObjectID)
		}
		seen[m.ObjectID] = true
	}
	// The replayed requests fail again: three new failure copies, and each group was read exactly twice
	// (the first request and its one replay).
	waitQueue(t, c, "purge-failed", 3)
	for _, g := range groups {
		if n := len(s.Graph.RequestsFor(g)); n != 2 {
			t.Errorf("group %s: %d Graph calls, want 2", g, n)
		}
	}
	if n := len(peek(t, c, "purge-requests")); n != 0 {
		t.Errorf("%d messages left on the trigger queue", n)
	}
}

// A 1,000,000-byte body, which a Premium trigger queue accepts: the handler decodes the invocation, refuses
// the request as InvalidMessage, and — the Standard failure queue refusing the whole body — secures it
// with the body cut and marked. Nothing reaches the trigger queue's $DeadLetterQueue.
func TestOversizedMessageEndsOnTheFailureQueue(t *testing.T) {
	s := startStack(t, localstack.Options{Queues: []sbemu.Queue{
		{Name: "purge-requests", MaxDeliveryCount: 10, DuplicateDetection: true, MaxMessageSize: 1 << 20},
		{Name: "purge-failed", MaxDeliveryCount: 100, DuplicateDetection: true},
	}})
	out := newOutcomes()
	runHost(t, hostRoot(t), s, nil, nil, out)
	c := busClient(t, s)
	body := strings.Repeat("x", 1_000_000)
	send(t, c, "purge-requests", map[string]string{"huge-1": body})

	got := waitQueue(t, c, "purge-failed", 1)[0]
	p := got.ApplicationProperties
	sum := sha256.Sum256([]byte(body))
	if p[purgemsg.PropDeadLetterReason] != "InvalidMessage" || len(got.Body) != purgemsg.CutBodySize || p[purgemsg.PropBodySize] != int64(1_000_000) ||
		p[purgemsg.PropBodySHA256] != hex.EncodeToString(sum[:]) || p[purgemsg.PropOriginalMessageID] != "huge-1" ||
		!strings.Contains(p[purgemsg.PropDeadLetterDescription].(string), "at most 65536") {
		t.Errorf("failure copy: %d bytes, %v", len(got.Body), p)
	}
	r, err := c.NewReceiverForQueue("purge-requests", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	if dl, err := r.PeekMessages(context.Background(), 10, nil); err != nil || len(dl) != 0 {
		t.Errorf("dead-lettered: %d %v", len(dl), err)
	}
	if n := len(peek(t, c, "purge-requests")); n != 0 {
		t.Errorf("%d messages left on the trigger queue", n)
	}
}

// waitQueue waits (bounded) until queue holds n messages and returns them, peeked.
func waitQueue(t *testing.T, c *azservicebus.Client, queue string, n int) []*azservicebus.ReceivedMessage {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs := peek(t, c, queue)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages, want %d", queue, len(msgs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
