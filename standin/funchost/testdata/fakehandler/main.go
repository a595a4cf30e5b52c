// Command fakehandler is a scriptable custom handler for the funchost tests. It
// speaks the handler side of the protocol the way a real handler must (listen on
// FUNCTIONS_CUSTOMHANDLER_PORT, answer GET /, decode Data/Metadata per key) and
// does whatever the message body tells it to:
//
//	ok             200 {"Logs":["ok <messageId>"]}
//	status N       N with a JSON body (the host must ignore it); a line on stderr
//	empty          200 with no body (the host hangs until functionTimeout)
//	null           200 application/json "null" (same)
//	text           200 text/plain
//	badjson        200 application/json "{"
//	sleep D        wait D (a Go duration), then ok
//	crash N        exit with code N in the middle of the invocation
//	warn           write a line containing "warning" to stderr, then ok
//	once:CMD       CMD on the first delivery, ok on later ones
//
// A timer invocation (Data holds a TimerInfo object) does what FAKE_TIMER_CMD says,
// and its invocation line carries the TimerInfo as "timer".
//
// Before acting it prints one JSON line per invocation on stdout (event
// "invocation") with what it received, so tests can check the host's request.
// At start it prints event "start" with its pid, working directory, arguments and
// the FUNCTIONS_* variables (plus those named in FAKE_ECHO_ENV).
//
// Start-up knobs: FAKE_EXIT_AT_START=N exits at once; FAKE_NEVER_LISTEN=1 never
// listens; FAKE_START_DELAY=D waits before listening; FAKE_IGNORE_SIGTERM=1
// ignores SIGTERM.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	outMu    sync.Mutex
	inFlight atomic.Int64
)

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func main() {
	if c := os.Getenv("FAKE_EXIT_AT_START"); c != "" {
		n, _ := strconv.Atoi(c)
		fmt.Fprintf(os.Stderr, "fakehandler: exiting at start with code %d\n", n)
		os.Exit(n)
	}
	env := map[string]string{}
	names := []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_CUSTOMHANDLER_WORKER_ID", "FUNCTIONS_HTTPWORKER_PORT",
		"FUNCTIONS_HTTPWORKER_ID", "FUNCTIONS_APP_ROOT_PATH"}
	if extra := os.Getenv("FAKE_ECHO_ENV"); extra != "" {
		names = append(names, strings.Split(extra, ",")...)
	}
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok {
			env[n] = v
		}
	}
	cwd, _ := os.Getwd()
	emit(map[string]any{"event": "start", "pid": os.Getpid(), "cwd": cwd, "args": os.Args[1:], "env": env})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		for range sig {
			emit(map[string]any{"event": "sigterm"})
			if os.Getenv("FAKE_IGNORE_SIGTERM") != "1" {
				os.Exit(0)
			}
		}
	}()

	if os.Getenv("FAKE_NEVER_LISTEN") == "1" {
		select {}
	}
	if d, err := time.ParseDuration(os.Getenv("FAKE_START_DELAY")); err == nil {
		time.Sleep(d)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /{fn}", invoke)
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), Handler: mux}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintf(os.Stderr, "fakehandler: %v\n", err)
		os.Exit(1)
	}
}

// unquoteTwice decodes a double-encoded Metadata string.
func unquoteTwice(raw json.RawMessage) string {
	var s1, s2 string
	if json.Unmarshal(raw, &s1) != nil || json.Unmarshal([]byte(s1), &s2) != nil {
		return ""
	}
	return s2
}

func invoke(w http.ResponseWriter, r *http.Request) {
	n := inFlight.Add(1)
	defer inFlight.Add(-1)
	var req struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &req); err != nil {
		fmt.Fprintf(os.Stderr, "fakehandler: bad request body: %v\n", err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var body []byte
	var timer map[string]any
	for _, v := range req.Data { // one trigger binding
		var s string
		if json.Unmarshal(v, &s) == nil {
			body, _ = base64.StdEncoding.DecodeString(s)
		} else if json.Unmarshal(v, &timer) == nil { // a timer's TimerInfo; FAKE_TIMER_CMD says what to do
			body = []byte(os.Getenv("FAKE_TIMER_CMD"))
		}
	}
	messageID := unquoteTwice(req.Metadata["MessageId"])
	var dcText string
	_ = json.Unmarshal(req.Metadata["DeliveryCount"], &dcText)
	deliveryCount, _ := strconv.Atoi(dcText)
	cmd := strings.TrimSpace(string(body))
	if rest, ok := strings.CutPrefix(cmd, "once:"); ok {
		cmd = "ok"
		if deliveryCount == 1 {
			cmd = rest
		}
	}
	emit(map[string]any{
		"event": "invocation", "function": r.PathValue("fn"), "method": r.Method, "path": r.URL.Path,
		"invocationId": r.Header.Get("X-Azure-Functions-InvocationId"), "hostVersion": r.Header.Get("X-Azure-Functions-HostVersion"),
		"userAgent": r.Header.Get("User-Agent"), "contentType": r.Header.Get("Content-Type"),
		"contentLength": r.ContentLength, "transferEncoding": r.TransferEncoding,
		"messageId": messageID, "deliveryCount": deliveryCount, "cmd": cmd, "inFlight": n,
		"metadataKeys": len(req.Metadata), "bodyBytes": len(raw), "timer": timer,
	})
	verb, arg, _ := strings.Cut(cmd, " ")
	ok := func() {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"Outputs":{},"Logs":["ok %s"],"ReturnValue":null}`, messageID)
	}
	switch verb {
	case "status":
		code, _ := strconv.Atoi(arg)
		fmt.Fprintf(os.Stderr, "fakehandler: failing message %s with %d\n", messageID, code)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"Logs":["this must be ignored"]}`)
	case "empty":
		w.WriteHeader(http.StatusOK)
	case "null":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "null")
	case "text":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	case "badjson":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{")
	case "sleep":
		d, _ := time.ParseDuration(arg)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		ok()
	case "crash":
		code, _ := strconv.Atoi(arg)
		fmt.Fprintf(os.Stderr, "fakehandler: crashing with code %d\n", code)
		os.Exit(code)
	case "warn":
		fmt.Fprintf(os.Stderr, "fakehandler: warning: message %s looks odd\n", messageID)
		ok()
	default:
		ok()
	}
}
