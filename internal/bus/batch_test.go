package bus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/message"
	"github.com/entra-purge/entra-purge/standin/sbemu"
)

// SendBatch through the real client: more messages than one batch holds go out as several batches, and
// sending the same ids again adds nothing to a queue with duplicate detection.
func TestSendBatchAgainstTheEmulator(t *testing.T) {
	em := sbemu.StartT(t, sbemu.Options{Queues: []sbemu.Queue{{Name: "q", DuplicateDetection: true}}})
	c, err := NewClient(em.ConnectionString(), "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// About 600 KB in all: the emulator advertises Standard's 256 KiB, so this takes at least three batches.
	msgs := make([]message.Outgoing, 1200)
	for i := range msgs {
		msgs[i] = message.Outgoing{Body: []byte(strings.Repeat("x", 480)), MessageID: fmt.Sprintf("m-%04d", i), ContentType: "application/json"}
	}
	if err := c.SendBatch(ctx, "q", msgs); err != nil {
		t.Fatal(err)
	}
	if err := c.SendBatch(ctx, "q", msgs[:10]); err != nil {
		t.Fatal(err)
	}
	if err := c.SendBatch(ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.Peek(ctx, "q", 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) || got[0].MessageID != "m-0000" || got[len(got)-1].MessageID != "m-1199" || got[0].ContentType != "application/json" {
		t.Fatalf("queue holds %d messages (want %d, each once)", len(got), len(msgs))
	}
	huge := []message.Outgoing{{Body: make([]byte, 300<<10), MessageID: "huge"}}
	if err := c.SendBatch(ctx, "q", huge); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("a message larger than a batch: %v", err)
	}
}
