package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Results is everything one `make bench` measured; bench/results.json is this, indented.
type Results struct {
	Generated time.Time          `json:"generated"`
	Seconds   float64            `json:"seconds"`
	Machine   machine            `json:"machine"`
	Figures   []Figure           `json:"figures"`
	Throttled []*throttledResult `json:"throttledRuns"`
	ColdBurst *burstResult       `json:"coldBurst"`
	CPU       *cpuResult         `json:"cpu"`
	ColdStart *coldStartResult   `json:"coldStart"`
	Binary    binaryResult       `json:"binary"`
}

type binaryResult struct {
	Bytes int64 `json:"bytes"`
}

// Figure is one row of the table: its measured value, its goal and whether the value meets it.
type Figure struct {
	Name   string  `json:"name"`
	Figure string  `json:"figure"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
	// Goal as the issue states it; "report" when there is none.
	Goal string `json:"goal"`
	// Met is null for a figure that is only reported.
	Met *bool `json:"met"`
	// Measured is the value as the table shows it, with what it is made of.
	Measured string `json:"measured"`
	How      string `json:"how"`
}

type machine struct {
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	MemoryMB  int64  `json:"memoryMB"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for _, line := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryMB = kb / 1024
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

func boolPtr(b bool) *bool { return &b }

// thousands writes n with a comma between thousands, as the docs do: 10,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func hostsText(n int) string {
	if n == 1 {
		return "1 host stand-in"
	}
	return fmt.Sprintf("%d host stand-ins", n)
}

func handlersText(n int) string {
	if n == 1 {
		return "one ./handler process"
	}
	return fmt.Sprintf("one ./handler process each, %d in all", n)
}

func instancesText(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return fmt.Sprintf("%d instances", n)
}

// evaluate turns the measurements into the rows, in its order.
func (r *Results) evaluate() {
	r.Figures = nil
	add := func(f Figure) { r.Figures = append(r.Figures, f) }
	lost, lostRuns := 0, []string{}
	for _, t := range r.Throttled {
		n := instancesText(t.Instances)
		add(Figure{Name: fmt.Sprintf("budget_used_%d_instance", t.Instances), Figure: "budget used, " + n,
			Value: round(t.BudgetUsed, 3), Goal: "≥ 0.95", Met: boolPtr(t.BudgetUsed >= 0.95),
			Measured: fmt.Sprintf("%.3f (%s purged in %.1f s; %d + 20/s × %.1f s = %s admissible)", t.BudgetUsed, thousands(t.Purged), t.WindowSeconds,
				bucketCapacity, t.WindowSeconds, thousands(int(bucketCapacity+20*t.WindowSeconds+0.5))),
			How: fmt.Sprintf("%s requests through %s on one trigger queue (%s), PURGE_MAX_WRITES_PER_SECOND=%d; write bucket %d, refilled %d per %.0f s; purged ÷ (capacity + refill × window), window = first DELETE to last 204",
				thousands(t.Requests), hostsText(t.Instances), handlersText(t.Instances), t.WritesPerSecond, bucketCapacity, bucketCapacity, bucketWindow.Seconds())})
		add(Figure{Name: fmt.Sprintf("share_429_%d_instance", t.Instances), Figure: "429 share, " + n,
			Value: round(t.Share429, 4), Goal: "≤ 0.02", Met: boolPtr(t.Share429 <= 0.02),
			Measured: fmt.Sprintf("%.4f (%s of %s DELETEs; at most %d a second)", t.Share429, thousands(t.Deletes429), thousands(t.Deletes), t.Max429PerSecond),
			How:      "DELETEs answered 429 ÷ all DELETEs, from the Graph simulator's request log"})
		lost += t.Lost
		lostRuns = append(lostRuns, fmt.Sprintf("%d of %s with %s", t.Lost, thousands(t.Requests), instancesText(t.Instances)))
	}
	if len(r.Throttled) > 0 {
		add(Figure{Name: "lost", Figure: "lost", Value: float64(lost), Goal: "0", Met: boolPtr(lost == 0),
			Measured: fmt.Sprintf("%d (%s)", lost, strings.Join(lostRuns, ", ")),
			How:      "after each throttled run, per request: purged on Graph, logged absent, on the failure queue, on $DeadLetterQueue, or still on the trigger queue; lost = not in exactly one of the first four and nowhere else"})
	}
	if b := r.ColdBurst; b != nil {
		add(Figure{Name: "token_calls_cold_burst", Figure: "token calls, cold burst", Value: float64(b.TokenCalls), Goal: "1", Met: boolPtr(b.TokenCalls == 1),
			Measured: fmt.Sprintf("%d (bare handler: %d)", b.TokenCalls, b.BareTokenCalls),
			How:      fmt.Sprintf("identity-endpoint calls for %d concurrent first invocations of a freshly started handler (verification on)", b.Invocations)})
		add(Figure{Name: "tls_connections_cold_burst", Figure: "TLS connections, cold burst", Value: float64(b.TLSConnections), Goal: "≤ 2", Met: boolPtr(b.TLSConnections <= 2),
			Measured: fmt.Sprintf("%d (bare handler: %d)", b.TLSConnections, b.BareTLSConnections),
			How:      "connections opened to the Graph simulator served over TLS (HTTP/2 by ALPN, a generated certificate trusted through SSL_CERT_FILE), same burst"})
	}
	if c := r.CPU; c != nil {
		off, on, bare := c.Variants["off"], c.Variants["on"], c.Variants["bare"]
		ratio, ratioMin := off.Median/bare.Median, off.Min/bare.Min
		offered := fmt.Sprintf("offered at %s a second to every handler", thousands(int(c.Rate)))
		if c.Rate <= 0 {
			offered = "as fast as each handler answers"
		}
		how := fmt.Sprintf("process CPU (utime+stime from /proc/<pid>/stat) of a fresh handler process over %s host-shaped invocations (the host stand-in's request builder), at most %d at once, %s, Graph instant (the simulator, unthrottled, over %s); %d rounds alternating with the bare handler, min and median",
			thousands(c.Invocations), c.Concurrency, offered, c.Transport, c.Rounds)
		add(Figure{Name: "cpu_per_1000_verification_off", Figure: "CPU per 1,000, verification off", Value: round(off.Median, 4), Unit: "s",
			Goal: "≤ 1.3 × bare", Met: boolPtr(ratio <= 1.3),
			Measured: fmt.Sprintf("median %.3f s, min %.3f s; bare handler median %.3f s, min %.3f s: %.2f × (min %.2f ×)", off.Median, off.Min, bare.Median, bare.Min, ratio, ratioMin),
			How:      how})
		add(Figure{Name: "cpu_per_1000_verification_on", Figure: "CPU per 1,000, verification on", Value: round(on.Median, 4), Unit: "s",
			Goal: "report", Measured: fmt.Sprintf("median %.3f s, min %.3f s (%.2f × bare)", on.Median, on.Min, on.Median/bare.Median), How: how + "; GET then DELETE"})
	}
	if s := r.ColdStart; s != nil {
		add(Figure{Name: "cold_start_ms", Figure: "cold start", Value: round(s.MedianMs, 2), Unit: "ms", Goal: "≤ 10 ms", Met: boolPtr(s.MedianMs <= 10),
			Measured: fmt.Sprintf("median %.1f ms (min %.1f, max %.1f) of %d", s.MedianMs, s.MinMs, s.MaxMs, len(s.Samples)),
			How:      "exec of ./handler with the sample settings → first answer on GET / (polled every 0.2 ms), median of 20"})
	}
	if c := r.CPU; c != nil {
		rss := max(c.Variants["off"].MaxRSS, c.Variants["on"].MaxRSS)
		add(Figure{Name: "rss_after_10000_mb", Figure: "RSS after 10,000", Value: round(float64(rss)/1e6, 1), Unit: "MB", Goal: "≤ 25 MB", Met: boolPtr(float64(rss)/1e6 <= 25),
			Measured: fmt.Sprintf("%.1f MB (verification off %.1f, on %.1f; the most of any round)", float64(rss)/1e6, float64(c.Variants["off"].MaxRSS)/1e6, float64(c.Variants["on"].MaxRSS)/1e6),
			How:      "VmRSS from /proc/<pid>/status after the 10,000 invocations of each CPU round (MB = 10⁶ bytes)"})
	}
	if r.Binary.Bytes > 0 {
		mb := float64(r.Binary.Bytes) / 1e6
		add(Figure{Name: "binary_size_mb", Figure: "binary size", Value: round(mb, 2), Unit: "MB", Goal: "≤ 12 MB", Met: boolPtr(mb <= 12),
			Measured: fmt.Sprintf("%.2f MB (%d bytes)", mb, r.Binary.Bytes),
			How:      "./handler from `make build` (linux/amd64, static, -trimpath, -s -w), checked to have no symbol table (MB = 10⁶ bytes)"})
	}
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if x < 0 {
		return -float64(int64(-x*p+0.5)) / p
	}
	return float64(int64(x*p+0.5)) / p
}

func metWord(m *bool) string {
	switch {
	case m == nil:
		return "—"
	case *m:
		return "yes"
	}
	return "**no**"
}

// print writes the table to w for the terminal.
func (r *Results) print(w io.Writer) {
	fmt.Fprintln(w)
	for _, f := range r.Figures {
		fmt.Fprintf(w, "%-34s %-10s %-4s %s\n", f.Figure, f.Goal, strings.Trim(metWord(f.Met), "*"), f.Measured)
	}
	fmt.Fprintf(w, "\n%.0f s in all.\n", r.Seconds)
}

// Markers around the generated part of docs/benchmarks.md; the prose outside them is kept.
const (
	beginMarker = "<!-- make bench: generated from bench/results.json, begin -->"
	endMarker   = "<!-- make bench: end -->"
)

// write saves bench/results.json, docs/benchmarks.svg, and the generated part of docs/benchmarks.md.
func (r *Results) write(root string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bench", "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "benchmarks.svg"), chartSVG(r.Throttled), 0o644); err != nil {
		return err
	}
	mdPath := filepath.Join(root, "docs", "benchmarks.md")
	old, err := os.ReadFile(mdPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(mdPath, spliceGenerated(old, r.markdown()), 0o644)
}

// spliceGenerated replaces what lies between the markers in doc with gen, or, when doc has no markers,
// returns a document holding only the generated part.
func spliceGenerated(doc, gen []byte) []byte {
	i := bytes.Index(doc, []byte(beginMarker))
	j := bytes.Index(doc, []byte(endMarker))
	var out bytes.Buffer
	if i < 0 || j < i {
		out.WriteString("# Benchmarks\n\n")
		out.WriteString(beginMarker + "\n")
		out.Write(gen)
		out.WriteString(endMarker + "\n")
		return out.Bytes()
	}
	out.Write(doc[:i])
	out.WriteString(beginMarker + "\n")
	out.Write(gen)
	out.Write(doc[j:])
	return out.Bytes()
}

// markdown is the generated part of docs/benchmarks.md.
func (r *Results) markdown() []byte {
	var b bytes.Buffer
	m := r.Machine
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs, %s MB of memory), %s, %s; the run took %.0f s.\n\n",
		r.Generated.Format("2006-01-02 15:04 UTC"), m.CPU, m.CPUs, thousands(int(m.MemoryMB)), m.Kernel, m.GoVersion, r.Seconds)
	b.WriteString("| figure | measured | goal | met |\n|---|---|---|---|\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.Figure, f.Measured, f.Goal, metWord(f.Met))
	}
	b.WriteString("\nHow each figure was measured:\n\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "- **%s**: %s.\n", f.Figure, f.How)
	}
	if len(r.Throttled) > 0 {
		b.WriteString("\n![purges and 429s per second in the throttled runs](benchmarks.svg)\n\n")
		b.WriteString("| throttled run | requests | PURGE_MAX_WRITES_PER_SECOND | purged | DELETEs | 429 | deliveries per request | retry copies (deferred) | ended in | lost | run |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range r.Throttled {
			places := []string{}
			for _, p := range []string{placePurged, placeAbsent, placeFailed, placeDeadLetter, placePending} {
				if n := t.Places[p]; n > 0 {
					places = append(places, fmt.Sprintf("%s %s", p, thousands(n)))
				}
			}
			timedOut := ""
			if t.TimedOut {
				timedOut = ", stopped at its time limit"
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %.2f | %d (%d) | %s | %d | %.0f s%s |\n",
				instancesText(t.Instances), thousands(t.Requests), t.WritesPerSecond, thousands(t.Purged), thousands(t.Deletes), thousands(t.Deletes429),
				float64(t.Deliveries)/float64(t.Requests), t.RetryCopies, t.Deferred, strings.Join(places, ", "), t.Lost, t.Seconds, timedOut)
		}
	}
	if c := r.CPU; c != nil {
		fmt.Fprintf(&b, "\nCPU seconds per 1,000 invocations, round by round (%s):\n\n| handler | rounds | min | median | invocations/s (median) |\n|---|---|---|---|---|\n", c.Transport)
		for _, k := range []string{"off", "on", "bare"} {
			v := c.Variants[k]
			rounds := make([]string, len(v.PerRound))
			for i, x := range v.PerRound {
				rounds[i] = fmt.Sprintf("%.3f", x)
			}
			fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %s |\n", v.Name, strings.Join(rounds, ", "), v.Min, v.Median, thousands(int(v.Throughput+0.5)))
		}
	}
	return b.Bytes()
}
