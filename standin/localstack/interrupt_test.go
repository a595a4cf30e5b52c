//go:build linux

package localstack

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestCtrlCStopsEverythingWithinSeconds is `make run` and a Ctrl-C while invocations are in flight:
// `standin localstack` runs in a process group of its own, as a shell runs a job, and the whole group
// gets SIGINT, as a terminal sends it. Everything must stop within seconds (it used to take 30 s: the
// emulator died first, and the host waited for invocations that could no longer send or settle), with
// exit status 130 and no handler or emulator process left.
func TestCtrlCStopsEverythingWithinSeconds(t *testing.T) {
	root, app := demoApp(t)
	bin := filepath.Join(t.TempDir(), "standin")
	build := exec.Command("go", "build", "-o", bin, "./standin")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// The command finds its app root as the directory holding go.mod above its working directory.
	if err := os.WriteFile(filepath.Join(app, "go.mod"), []byte("module localstack-interrupt-test\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "localstack", "-logs", t.TempDir())
	cmd.Dir = app
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })

	// Wait until the ten requests are enqueued: the host is then running invocations.
	pidRE := regexp.MustCompile(`\(pid (\d+)\)`)
	enqueuedRE := regexp.MustCompile(`enqueued \d+ purge requests`)
	ready := make(chan []int, 1) // the pids printed before the requests were enqueued
	go func() {
		sc := bufio.NewScanner(stdout)
		var pids []int
		sent := false
		for sc.Scan() { // keep draining, so the command never blocks on a full pipe
			if sent {
				continue
			}
			if m := pidRE.FindStringSubmatch(sc.Text()); m != nil {
				pid, _ := strconv.Atoi(m[1])
				pids = append(pids, pid)
			}
			if enqueuedRE.MatchString(sc.Text()) {
				ready <- pids
				sent = true
			}
		}
	}()
	var pids []int
	select {
	case pids = <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("the requests were not enqueued; stderr:\n%s", stderr.String())
	}
	if len(pids) != 2 {
		t.Fatalf("want the emulator's and the handler's pids in the progress, got %v", pids)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 130 {
			t.Errorf("exit: %v, want status 130; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after Ctrl-C; stderr:\n%s", stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Ctrl-C took %s to stop everything, want a few seconds", d.Round(100*time.Millisecond))
	}
	for _, pid := range pids { // the emulator and the handler
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still running after Ctrl-C (%v)", pid, err)
		}
	}
}
