package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/syncio"
)

// handlerProc is a custom handler process started the way the Functions host starts one: in the app root,
// with the settings as its environment and FUNCTIONS_CUSTOMHANDLER_PORT, no arguments.
type handlerProc struct {
	cmd     *exec.Cmd
	port    int
	started time.Time
	done    chan struct{}
	stderr  syncio.Buffer
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startProc launches path with settings (and nothing else of this process's environment but PATH and
// HOME, as the e2e tests do); stdout goes to out (nil: discarded).
func startProc(path, dir string, settings map[string]string, out io.Writer) (*handlerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(port), "FUNCTIONS_CUSTOMHANDLER_WORKER_ID=" + uuid.NewString(),
		"FUNCTIONS_APP_ROOT_PATH=" + dir}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+settings[k])
	}
	if out == nil {
		out = io.Discard
	}
	p := &handlerProc{cmd: cmd, port: port, done: make(chan struct{})}
	cmd.Stdout = out
	cmd.Stderr = &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *handlerProc) pid() int { return p.cmd.Process.Pid }

func (p *handlerProc) url() string { return "http://127.0.0.1:" + strconv.Itoa(p.port) }

// waitReady polls GET / (every poll) until it is answered, and returns the time from exec to that answer.
func (p *handlerProc) waitReady(ctx context.Context, poll time.Duration) (time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+"/", nil)
		resp, err := client.Do(req)
		if err == nil {
			took := time.Since(p.started)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return took, nil
		}
		select {
		case <-p.done:
			return 0, fmt.Errorf("%s exited before it was ready: %s", p.cmd.Path, p.stderrText())
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready within 30 s", p.cmd.Path)
		}
		time.Sleep(poll)
	}
}

func (p *handlerProc) stderrText() string {
	return p.stderr.String()
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (p *handlerProc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// invocationBody is the host's request body for one trigger message with body, built by the host
// stand-in's own request builder (funchost.BuildInvocationBody), so the envelope is byte for byte what
// the stand-in — and, per its goldens, the real host — sends.
func invocationBody(body []byte, seq int64, now time.Time) ([]byte, error) {
	enq := now.UTC()
	ct := "application/json"
	m := &azservicebus.ReceivedMessage{
		Body: body, MessageID: uuid.NewString(), DeliveryCount: 1, EnqueuedTime: &enq, SequenceNumber: &seq,
		LockToken: uuid.New(), ContentType: &ct, ApplicationProperties: map[string]any{},
	}
	return funchost.BuildInvocationBody(funchost.InvocationInput{
		FunctionName: "purge", BindingName: "message", Message: m,
		Client: funchost.NewClientInfo("127.0.0.1"), UtcNow: now.UTC(), RandGuid: uuid.NewString(),
	})
}

// hostClient is an HTTP client shaped like the host's: no proxy, no per-host connection cap.
func hostClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1024, DisableCompression: true}}
}

// invoke POSTs one invocation as the host does (funchost.NewInvocationRequest: chunked, the host's
// headers) and returns the status and the answer's body.
func invoke(ctx context.Context, client *http.Client, port int, body []byte) (int, []byte, error) {
	req, err := funchost.NewInvocationRequest(ctx, port, "purge", body, uuid.NewString())
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, raw, nil
}

// errAnswer is an invocation that did not end as the benchmark requires.
var errAnswer = errors.New("unexpected answer")
