package localstack

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `make run`'s demo with the real handler and checks the table the README promises: every
// scenario ends where it should, and the host never restarted the handler or saw a hung answer.
func TestDemo(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Run the demo against a freshly built handler in a copy of the app root's files it needs.
	app := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(app, "handler"), "./cmd/handler")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, f := range []string{"host.json", "local.settings.sample.json", "purge/function.json"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(app, f))
	}
	linkDir(t, filepath.Join(root, "standin"), filepath.Join(app, "standin"))

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
	for _, want := range []string{"purged from the recycle bin", "failure queue: Protected", "failure queue: TypeNotAllowed", "nothing to purge"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}
