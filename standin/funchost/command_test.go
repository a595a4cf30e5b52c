package funchost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/standin/internal/cli"
)

// build builds the stand-in command (go run ./standin) once, into the package's binDir; the
// handler it runs is the package's fake handler.
var (
	buildOnce              sync.Once
	buildErr               error
	standinBin, handlerBin string
)

func build(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		standinBin, handlerBin = filepath.Join(binDir, "standin"), fakeHandlerPath
		if b, err := exec.Command("go", "build", "-o", standinBin, "..").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ..: %v\n%s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// closedPort is a loopback port nothing listens on: the trigger's receive keeps
// failing and retrying, which is enough to run the handler.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startFunchost runs `standin host` on a minimal app and returns it with the
// handler's pid, read from the host log.
func startFunchost(t *testing.T) (*exec.Cmd, int, *bytes.Buffer) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process-group and parent-death guarantees are Linux-only")
	}
	build(t)
	root := t.TempDir()
	files := map[string]string{
		"host.json":           `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"` + handlerBin + `"}}}`,
		"purge/function.json": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"message","queueName":"q","connection":"ServiceBusConnection","dataType":"binary"}]}`,
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cs := fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true", closedPort(t))
	cmd := exec.Command(standinBin, "host", "--app-root", root, "--set", "ServiceBusConnection="+cs, "--drain-timeout", "1s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pids := make(chan int, 1)
	go func() {
		re := regexp.MustCompile(`Handler is ready|Started handler .* \(pid (\d+),`)
		sc := bufio.NewScanner(stdout)
		pid := 0
		for sc.Scan() {
			m := re.FindStringSubmatch(sc.Text())
			switch {
			case m == nil:
			case m[1] != "":
				fmt.Sscan(m[1], &pid)
			case pid != 0:
				pids <- pid
			}
		}
	}()
	select {
	case pid := <-pids:
		return cmd, pid, &stderr
	case <-time.After(20 * time.Second):
		t.Fatalf("the handler did not become ready; stderr:\n%s", stderr.String())
		return nil, 0, nil
	}
}

func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: handler %d still running", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInterruptStopsHostAndHandler(t *testing.T) {
	cmd, pid, stderr := startFunchost(t)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("funchost exited with %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("funchost did not exit after SIGINT")
	}
	waitGone(t, pid, "after SIGINT")
}

func TestKilledHostTakesTheHandlerWithIt(t *testing.T) {
	cmd, pid, _ := startFunchost(t)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pid, "after SIGKILL of the host")
}

// run is `standin host ARGS` in process, as its exit status.
func run(args []string) int { return cli.Status(Command(context.Background(), args)) }

func TestUsage(t *testing.T) {
	if code := run([]string{"--bogus"}); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code := run([]string{"extra"}); code != 2 {
		t.Errorf("stray argument: exit %d, want 2", code)
	}
	if code := run([]string{"--set", "novalue"}); code != 2 {
		t.Errorf("--set without =: exit %d, want 2", code)
	}
	if code := run([]string{"--app-root", t.TempDir()}); code != 1 {
		t.Errorf("no host.json: exit %d, want 1", code)
	}
}
