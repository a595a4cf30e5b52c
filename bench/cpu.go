package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/entra-purge/entra-purge/standin/graphsim"
)

// cpuVariant is one handler measured for CPU.
type cpuVariant struct {
	Key, Name string
	Binary    string
	Settings  map[string]string // on top of the stack's
	// Purged reports whether an answer says the object was purged.
	Purged func(status int, body []byte) bool
}

// cpuRun is one process's measurement: CPU used by its invocations, wall time, VmRSS after them.
type cpuRun struct {
	Variant     string  `json:"variant"`
	Round       int     `json:"round"`
	CPUPer1000  float64 `json:"cpuSecondsPer1000"`
	WallSeconds float64 `json:"wallSeconds"`
	RSSBytes    int64   `json:"rssBytes"`
}

// cpuSummary is one variant over every round.
type cpuSummary struct {
	Name       string    `json:"name"`
	PerRound   []float64 `json:"cpuSecondsPer1000"`
	Min        float64   `json:"min"`
	Median     float64   `json:"median"`
	MaxRSS     int64     `json:"maxRssBytes"`
	Throughput float64   `json:"invocationsPerSecondMedian"`
}

type cpuResult struct {
	Invocations int                   `json:"invocations"`
	Concurrency int                   `json:"concurrency"`
	Rate        float64               `json:"offeredPerSecond"`
	Rounds      int                   `json:"rounds"`
	Transport   string                `json:"transport"`
	Runs        []cpuRun              `json:"runs"`
	Variants    map[string]cpuSummary `json:"variants"`
}

// entraPurged reports an answer of entra-purge whose log line says purged.
func entraPurged(status int, body []byte) bool {
	return status == http.StatusOK && bytes.Contains(body, []byte(`purge purged`))
}

// barePurged reports the bare handler's 200, which it answers only after a 204.
func barePurged(status int, body []byte) bool {
	return status == http.StatusOK && string(body) == "{}"
}

// measureCPU runs every variant rounds times, in an order that rotates each round so no variant always
// goes first or last, each time in a fresh process driven with invocations host-shaped requests,
// concurrency at a time, against an instant Graph (the simulator, unthrottled, on this machine).
func measureCPU(ctx context.Context, root string, variants []cpuVariant, rounds, invocations, concurrency int, rate float64, useTLS bool, progress func(string, ...any)) (*cpuResult, error) {
	// Instant Graph: a write bucket that never empties nor nears 0.8 of its size.
	st, err := startGraphStack(root, graphsim.ThrottleLimits{Writes: math.MaxInt32, WriteWindow: time.Second}, useTLS)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	res := &cpuResult{Invocations: invocations, Concurrency: concurrency, Rate: rate, Rounds: rounds, Transport: "http", Variants: map[string]cpuSummary{}}
	if useTLS {
		res.Transport = "https (HTTP/2)"
	}
	for r := range rounds {
		for i := range variants {
			v := variants[(i+r)%len(variants)]
			run, err := cpuOnce(ctx, root, st, v, invocations, concurrency, rate)
			if err != nil {
				return nil, fmt.Errorf("CPU round %d, %s: %w", r+1, v.Name, err)
			}
			run.Round = r + 1
			res.Runs = append(res.Runs, run)
			progress("CPU round %d/%d %-32s %.3f s per 1,000 (%.1f s wall, %.1f MB RSS)", r+1, rounds, v.Name, run.CPUPer1000, run.WallSeconds, float64(run.RSSBytes)/1e6)
		}
	}
	for _, v := range variants {
		var per, walls []float64
		var maxRSS int64
		for _, run := range res.Runs {
			if run.Variant == v.Key {
				per = append(per, run.CPUPer1000)
				walls = append(walls, run.WallSeconds)
				maxRSS = max(maxRSS, run.RSSBytes)
			}
		}
		res.Variants[v.Key] = cpuSummary{Name: v.Name, PerRound: per, Min: slices.Min(per), Median: median(per), MaxRSS: maxRSS,
			Throughput: round(float64(invocations)/median(walls), 1)}
	}
	return res, nil
}

// cpuOnce starts v's binary, waits for it to be ready, and measures the CPU its process uses while it
// answers invocations requests for objects in the bin; it checks that every one was purged.
func cpuOnce(ctx context.Context, root string, st *graphStack, v cpuVariant, invocations, concurrency int, rate float64) (cpuRun, error) {
	ids := st.addUsers(invocations)
	now := time.Now()
	bodies := make([][]byte, invocations)
	for i, id := range ids {
		b, err := invocationBody([]byte(id), int64(i+1), now)
		if err != nil {
			return cpuRun{}, err
		}
		bodies[i] = b
	}
	p, err := startProc(v.Binary, root, with(st.Settings, v.Settings), nil)
	if err != nil {
		return cpuRun{}, err
	}
	defer p.stop(5 * time.Second)
	if _, err := p.waitReady(ctx, 5*time.Millisecond); err != nil {
		return cpuRun{}, err
	}
	cpu0, err := processCPU(p.pid())
	if err != nil {
		return cpuRun{}, err
	}
	client := hostClient()
	defer client.CloseIdleConnections()
	work := make(chan []byte)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for body := range work {
				status, raw, err := invoke(ctx, client, p.port, body)
				if err == nil && !v.Purged(status, raw) {
					err = fmt.Errorf("%w: %d %s", errAnswer, status, raw)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	// Open loop: invocation i is offered at start + i/rate (or as soon as a slot is free, when the
	// handler falls behind), so every handler gets the same load.
	for i, b := range bodies {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		work <- b
	}
	close(work)
	wg.Wait()
	wall := time.Since(start)
	if firstErr != nil {
		return cpuRun{}, fmt.Errorf("%w; stderr: %s", firstErr, p.stderrText())
	}
	cpu1, err := processCPU(p.pid())
	if err != nil {
		return cpuRun{}, err
	}
	rss, err := processRSS(p.pid())
	if err != nil {
		return cpuRun{}, err
	}
	for _, id := range ids {
		if !st.Graph.Purged(id) {
			return cpuRun{}, fmt.Errorf("%s answered purged but the simulator still holds %s", v.Name, id)
		}
	}
	// utime and stime count clock ticks (10 ms), so a thousandth of a second per 1,000 is all the precision.
	return cpuRun{Variant: v.Key, CPUPer1000: round((cpu1-cpu0).Seconds()*1000/float64(invocations), 4),
		WallSeconds: round(wall.Seconds(), 3), RSSBytes: rss}, nil
}

// median of xs (which it does not reorder).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
