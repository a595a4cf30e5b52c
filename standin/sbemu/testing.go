package sbemu

import (
	"context"
	"testing"
)

// StartT starts an emulator for a test and stops it in t.Cleanup. It never skips: if Node.js or
// the emulator's dependencies are missing the test fails, with the fix in the message. If the
// test fails, the emulator's last log lines are added to the test output.
func StartT(t testing.TB, opts Options) *Emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e, err := Start(ctx, opts)
	if err != nil {
		cancel()
		t.Fatalf("starting the Service Bus emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("stopping the Service Bus emulator: %v", err)
		}
		cancel()
		if t.Failed() {
			t.Logf("Service Bus emulator log (last lines):\n%s", e.recentLog())
		}
	})
	return e
}
