package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/funcproto"
	"github.com/entra-purge/entra-purge/standin/graphsim"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis: fields are counted from the last ')'.
	stat := []byte("4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 12345 1000 200 18446744073709551615")
	got, err := parseStatCPU(stat, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2870 * time.Millisecond; got != want {
		t.Errorf("utime 250 + stime 37 ticks at 100 Hz = %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("4242 (cmd) S 1 2"), 100); err == nil {
		t.Error("a truncated stat line was accepted")
	}
	// This process's own line parses.
	if cpu, err := processCPU(os.Getpid()); err != nil || cpu < 0 {
		t.Errorf("own CPU: %v, %v", cpu, err)
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\thandler\nVmPeak:\t  30000 kB\nVmRSS:\t   19876 kB\nRssAnon:\t 10000 kB\n"
	got, err := parseStatusRSS(strings.NewReader(status))
	if err != nil || got != 19876*1024 {
		t.Errorf("VmRSS = %d, %v; want %d", got, err, 19876*1024)
	}
	if _, err := parseStatusRSS(strings.NewReader("Name:\tkthread\n")); err == nil {
		t.Error("a status without VmRSS was accepted")
	}
}

// The ceiling is what infra/main.bicep sets PURGE_MAX_WRITES_PER_SECOND to; the checker keeps the
// expression honest, this keeps the bench's copy of it honest.
func TestWriteCeilingIsInfras(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "infra", "main.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`var purgeMaxWritesPerSecond = max\(1, graphWritesPerSecond / maximumInstanceCount\)`).Match(b) {
		t.Fatal("infra/main.bicep no longer computes purgeMaxWritesPerSecond as max(1, graphWritesPerSecond / maximumInstanceCount): update writeCeiling")
	}
	for _, c := range []struct{ budget, instances, want int }{{20, 1, 20}, {20, 4, 5}, {20, 3, 6}, {8, 10, 1}} {
		if got := writeCeiling(c.budget, c.instances); got != c.want {
			t.Errorf("writeCeiling(%d, %d) = %d, want %d", c.budget, c.instances, got, c.want)
		}
	}
}

func TestFiguresFromTheRequestLog(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []graphsim.Request{
		{Time: at(0), Op: graphsim.OpGet, Status: 200}, // reads do not count
		{Time: at(100), Op: graphsim.OpPurge, Status: 204},
		{Time: at(200), Op: graphsim.OpPurge, Status: 429},
		{Time: at(1500), Op: graphsim.OpPurge, Status: 204},
		{Time: at(2500), Op: graphsim.OpPurge, Status: 429},
		{Time: at(5100), Op: graphsim.OpPurge, Status: 204},
		{Time: at(5200), Op: graphsim.OpPurge, Status: 404},
	}
	var r throttledResult
	r.fromLog(reqs)
	if r.Deletes != 6 || r.Deletes429 != 2 || r.Purged != 3 {
		t.Errorf("deletes %d, 429 %d, purged %d; want 6, 2, 3", r.Deletes, r.Deletes429, r.Purged)
	}
	if r.WindowSeconds != 5 {
		t.Errorf("window %v s, want 5 (first DELETE to last 204)", r.WindowSeconds)
	}
	if want := 3.0 / (100 + 20*5); r.BudgetUsed != want {
		t.Errorf("budget used %v, want %v", r.BudgetUsed, want)
	}
	if r.Share429 != 2.0/6 {
		t.Errorf("429 share %v, want 1/3", r.Share429)
	}
	want := []secondCounts{{Purged: 1, Throttled: 1}, {Purged: 1}, {Throttled: 1}, {}, {}, {Purged: 1}}
	if len(r.Timeline) != len(want) {
		t.Fatalf("timeline %v, want %v", r.Timeline, want)
	}
	for i := range want {
		if r.Timeline[i] != want[i] {
			t.Errorf("second %d: %+v, want %+v", i, r.Timeline[i], want[i])
		}
	}
	if r.Max429PerSecond != 1 {
		t.Errorf("max 429/s %d", r.Max429PerSecond)
	}
}

func TestTrackerFollowsLogLinesSplitAnyhow(t *testing.T) {
	tr := newTracker([]string{"a", "b", "c"})
	w := tr.writer()
	lines := `{"outcome":"retry-scheduled","objectId":"a","deferred":true}` + "\n" +
		`{"outcome":"purged","objectId":"a"}` + "\n" +
		`not json` + "\n" +
		`{"outcome":"absent","objectId":"b"}` + "\n" +
		`{"outcome":"purged","objectId":"zz"}` + "\n"
	// Written in odd pieces, as a pipe may deliver them.
	for i := 0; i < len(lines); i += 7 {
		_, _ = io.WriteString(w, lines[i:min(i+7, len(lines))])
	}
	if n := tr.ended(); n != 2 {
		t.Errorf("ended %d, want 2 (a and b; zz is not ours)", n)
	}
	if !tr.absent("b") || tr.absent("a") {
		t.Error("absent should be b only")
	}
	outcomes, retries, deferred := tr.counts()
	if outcomes["purged"] != 2 || retries != 1 || deferred != 1 {
		t.Errorf("outcomes %v, retries %d, deferred %d", outcomes, retries, deferred)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567", -2000: "-2,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRequestID(t *testing.T) {
	if got := requestID([]byte(`{"id":"8F3C1A2B-4D5E-4F60-8A7B-9C0D1E2F3A4B","type":"user"}`)); got != "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b" {
		t.Errorf("requestID = %q", got)
	}
	if got := requestID([]byte("not json")); got != "" {
		t.Errorf("requestID of junk = %q", got)
	}
}

// The envelope the bench sends is the host's: the product's own decoder reads the message back.
func TestInvocationBodyIsTheHosts(t *testing.T) {
	raw, err := invocationBody([]byte("8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"), 7, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	inv, err := funcproto.DecodeInvocation(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := inv.ServiceBusMessage("message")
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Body) != "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b" || msg.DeliveryCount != 1 || msg.SequenceNumber != 7 {
		t.Errorf("decoded %q, delivery %d, sequence %d", msg.Body, msg.DeliveryCount, msg.SequenceNumber)
	}
}

func sampleResults() *Results {
	tl := []secondCounts{{Purged: 100}, {Purged: 20, Throttled: 3}, {Purged: 20}}
	r := &Results{
		Generated: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Seconds: 240,
		Machine: machine{CPU: "Test CPU", CPUs: 2, MemoryMB: 1024, Kernel: "Linux 6", GoVersion: "go1.26"},
		Throttled: []*throttledResult{
			{Instances: 1, Requests: 1000, WritesPerSecond: 20, Purged: 1000, Deletes: 1003, Deletes429: 3, WindowSeconds: 46, BudgetUsed: 1000.0 / 1020, Share429: 3.0 / 1003, Places: map[string]int{placePurged: 1000}, Timeline: tl},
			{Instances: 4, Requests: 2000, WritesPerSecond: 5, Purged: 1990, Deletes: 2300, Deletes429: 300, WindowSeconds: 100, BudgetUsed: 1990.0 / 2100, Share429: 300.0 / 2300, Lost: 2, Places: map[string]int{placePurged: 1990, placePending: 10}, Timeline: tl},
		},
		ColdBurst: &burstResult{Invocations: 100, TokenCalls: 1, TLSConnections: 1, BareTokenCalls: 1, BareTLSConnections: 100},
		CPU: &cpuResult{Invocations: 10000, Concurrency: 16, Rate: 1000, Rounds: 3, Transport: "https (HTTP/2)", Variants: map[string]cpuSummary{
			"off":  {Name: "off", PerRound: []float64{0.3, 0.31, 0.29}, Min: 0.29, Median: 0.3, MaxRSS: 20e6},
			"on":   {Name: "on", PerRound: []float64{0.4}, Min: 0.4, Median: 0.4, MaxRSS: 21e6},
			"bare": {Name: "bare", PerRound: []float64{0.2}, Min: 0.2, Median: 0.2, MaxRSS: 15e6},
		}},
		ColdStart: &coldStartResult{Samples: []float64{2, 3}, MedianMs: 2.5, MinMs: 2, MaxMs: 3},
		Binary:    binaryResult{Bytes: 10_300_000},
	}
	r.evaluate()
	return r
}

func TestEvaluateGivesOneRowPerIssueRow(t *testing.T) {
	r := sampleResults()
	want := []struct {
		name string
		met  *bool
	}{
		{"budget_used_1_instance", boolPtr(true)}, {"share_429_1_instance", boolPtr(true)},
		{"budget_used_4_instance", boolPtr(false)}, {"share_429_4_instance", boolPtr(false)},
		{"lost", boolPtr(false)}, {"token_calls_cold_burst", boolPtr(true)}, {"tls_connections_cold_burst", boolPtr(true)},
		{"cpu_per_1000_verification_off", boolPtr(false)}, {"cpu_per_1000_verification_on", nil},
		{"cold_start_ms", boolPtr(true)}, {"rss_after_10000_mb", boolPtr(true)}, {"binary_size_mb", boolPtr(true)},
	}
	if len(r.Figures) != len(want) {
		t.Fatalf("%d figures, want %d: %+v", len(r.Figures), len(want), r.Figures)
	}
	for i, w := range want {
		f := r.Figures[i]
		if f.Name != w.name {
			t.Errorf("figure %d is %s, want %s", i, f.Name, w.name)
		}
		if (f.Met == nil) != (w.met == nil) || (f.Met != nil && *f.Met != *w.met) {
			t.Errorf("%s: met %v, want %v (value %v, goal %s)", f.Name, f.Met, w.met, f.Value, f.Goal)
		}
		if f.Goal == "" || f.How == "" || f.Measured == "" {
			t.Errorf("%s has an empty goal, how or measured", f.Name)
		}
	}
	// 0.30 / 0.20 = 1.5 × bare: over 1.3.
	if !strings.Contains(r.Figures[7].Measured, "1.50 ×") {
		t.Errorf("CPU ratio not shown: %s", r.Figures[7].Measured)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func TestSpliceKeepsTheProse(t *testing.T) {
	doc := []byte("# Benchmarks\n\nintro\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\n## Notes\n\nkept\n")
	got := string(spliceGenerated(doc, []byte("new table\n")))
	want := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nnew table\n" + endMarker + "\n\n## Notes\n\nkept\n"
	if got != want {
		t.Errorf("spliced:\n%s\nwant:\n%s", got, want)
	}
	fresh := string(spliceGenerated(nil, []byte("table\n")))
	if !strings.HasPrefix(fresh, "# Benchmarks\n") || !strings.Contains(fresh, beginMarker+"\ntable\n"+endMarker) {
		t.Errorf("fresh document:\n%s", fresh)
	}
}

func TestMarkdownAndChart(t *testing.T) {
	r := sampleResults()
	md := string(r.markdown())
	for _, s := range []string{"| budget used, 1 instance | 0.980", "| lost | 2 (", "**no**", "benchmarks.svg", "Test CPU (2 CPUs", "trigger queue 10"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
	svg := chartSVG(r.Throttled)
	dec := xml.NewDecoder(bytes.NewReader(svg))
	polylines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
			for _, a := range se.Attr {
				if a.Name.Local == "points" && strings.Count(a.Value, ",") != len(r.Throttled[0].Timeline) {
					t.Errorf("a series has %d points, want one per second (%d)", strings.Count(a.Value, ","), len(r.Throttled[0].Timeline))
				}
			}
		}
	}
	if polylines != 4 {
		t.Errorf("%d series drawn, want 4 (purges and 429s for each run)", polylines)
	}
}
