package localstack

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs `make run`'s demo with the real handler and checks the table the README promises: every
// scenario ends where it should, and the host never restarted the handler or saw a hung answer.
func TestDemo(t *testing.T) {
	_, app := demoApp(t)
	var progress bytes.Buffer
	report, err := RunDemo(context.Background(), DemoOptions{AppRoot: app, Progress: &progress, LogDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var table bytes.Buffer
	report.PrintTable(&table)
	t.Log("\n" + table.String())
	if !report.OK() {
		t.Fatalf("scenarios did not end as expected:\n%s\n%s", table.String(), progress.String())
	}
	if report.Host.Restarts != 0 || report.Host.Hangs != 0 {
		t.Errorf("host stats %+v", report.Host)
	}
	if n := len(report.FailureQueue); n != 6 {
		t.Errorf("failure queue holds %d, want 6", n)
	}
	if len(report.Results) != 12 || !strings.Contains(report.Sweep, "past due at start-up: true") || !strings.Contains(report.Sweep, "2 enqueued") {
		t.Errorf("%d rows; sweep %q", len(report.Results), report.Sweep)
	}
	for _, want := range []string{"purged from the recycle bin", "failure queue: Protected", "failure queue: TypeNotAllowed", "nothing to purge", "swept: deleted by hand"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}
