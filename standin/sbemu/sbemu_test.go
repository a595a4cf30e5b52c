package sbemu

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQueueSpecs(t *testing.T) {
	got, err := queueSpecs([]Queue{
		{Name: "purge-requests", MaxDeliveryCount: 10, LockDuration: 1500 * time.Millisecond, DuplicateDetection: true},
		{Name: "purge-failed"},
	})
	want := "purge-requests:maxDeliveryCount=10:lockDuration=1500ms:duplicateDetection=true,purge-failed"
	if err != nil || got != want {
		t.Fatalf("queueSpecs = %q, %v; want %q", got, err, want)
	}
	for _, bad := range [][]Queue{
		{{Name: ""}},
		{{Name: "a,b"}},
		{{Name: "a:b"}},
		{{Name: "q/$DeadLetterQueue"}},
		{{Name: "q"}, {Name: "Q"}},
		{{Name: "q", MaxDeliveryCount: -1}},
		{{Name: "q", LockDuration: time.Microsecond}},
	} {
		if _, err := queueSpecs(bad); err == nil {
			t.Errorf("queueSpecs(%+v) accepted", bad)
		}
	}
}

func TestStartReportsMissingNode(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background(), Options{Queues: []Queue{{Name: "q"}}})
	if err == nil || !strings.Contains(err.Error(), "node") {
		t.Fatalf("err = %v, want it to say node is missing", err)
	}
}

func TestStartReportsMissingDependencies(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "server.js"), []byte("// not run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Dir: dir, Queues: []Queue{{Name: "q"}}})
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("err = %v, want it to say `make deps`", err)
	}
}

func TestStartReportsAnEmulatorThatExits(t *testing.T) {
	// A port that is already taken makes the emulator exit with an error on stderr.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(context.Background(), Options{Port: port, Queues: []Queue{{Name: "q"}}})
	if err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Fatalf("err = %v, want the emulator's own explanation", err)
	}
}

func TestConnectionStringAndPort(t *testing.T) {
	e := StartT(t, Options{Queues: []Queue{{Name: "q"}}})
	want := fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true", e.Port())
	if e.Port() <= 0 || e.ConnectionString() != want {
		t.Fatalf("port %d, connection string %q", e.Port(), e.ConnectionString())
	}
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.Port()), 2*time.Second)
	if err != nil {
		t.Fatalf("dialling the emulator: %v", err)
	}
	conn.Close()
}

func TestCloseStopsTheProcess(t *testing.T) {
	e, err := Start(context.Background(), Options{Queues: []Queue{{Name: "q"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-e.exited:
	default:
		t.Fatal("Close returned before the process exited")
	}
	if st := e.cmd.ProcessState; st == nil || !st.Exited() || st.ExitCode() != 0 {
		t.Fatalf("process state after Close: %v, want a clean exit on SIGTERM", st)
	}
}

func TestCancellingTheContextStopsTheProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e, err := Start(ctx, Options{Queues: []Queue{{Name: "q"}}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cancel()
	select {
	case <-e.exited:
	case <-time.After(5 * time.Second):
		e.Close()
		t.Fatal("the emulator still runs 5 s after its context was cancelled")
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close after cancel: %v", err)
	}
}
