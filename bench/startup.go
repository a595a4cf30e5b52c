package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/localstack"
)

// cpuOverTLS: the CPU figures are measured with Graph over HTTPS (HTTP/2), as in every deployment —
// Graph is reachable only over TLS, and its cost is the same for both handlers.
const cpuOverTLS = true

// cpuSettings are entra-purge's settings for the CPU runs: the sample's, with verification on or off
// (off requires PURGE_ALLOW_SYNCED, contract §9) and the write limiter at its highest ceiling, 1,000 a
// second, since an instant Graph has no limit to pace toward.
func cpuSettings(verify bool) map[string]string {
	s := map[string]string{"PURGE_MAX_WRITES_PER_SECOND": "1000"}
	if !verify {
		s["PURGE_VERIFY"] = "false"
		s["PURGE_ALLOW_SYNCED"] = "true"
	}
	return s
}

type coldStartResult struct {
	Samples  []float64 `json:"samplesMs"`
	MedianMs float64   `json:"medianMs"`
	MinMs    float64   `json:"minMs"`
	MaxMs    float64   `json:"maxMs"`
}

// measureColdStart execs the handler n times with the sample settings and times exec → the first answer
// to GET / (polled every 0.2 ms, so the poll adds at most that), then stops it.
func measureColdStart(ctx context.Context, root, handler string, n int) (*coldStartResult, error) {
	settings, err := localstack.SampleSettings(root)
	if err != nil {
		return nil, err
	}
	res := &coldStartResult{}
	for range n {
		p, err := startProc(handler, root, settings, nil)
		if err != nil {
			return nil, err
		}
		took, err := p.waitReady(ctx, 200*time.Microsecond)
		p.stop(5 * time.Second)
		if err != nil {
			return nil, err
		}
		res.Samples = append(res.Samples, float64(took.Microseconds())/1000)
	}
	res.MedianMs, res.MinMs, res.MaxMs = median(res.Samples), slices.Min(res.Samples), slices.Max(res.Samples)
	return res, nil
}

type burstResult struct {
	Invocations    int `json:"invocations"`
	TokenCalls     int `json:"identityEndpointCalls"`
	TLSConnections int `json:"graphTlsConnections"`
	// The bare handler, for comparison: what the field's default does with the same burst.
	BareTokenCalls     int `json:"bareIdentityEndpointCalls"`
	BareTLSConnections int `json:"bareGraphTlsConnections"`
}

// measureColdBurst sends n concurrent first invocations to a freshly started handler (verification on,
// the default) with Graph over TLS, and counts the identity endpoint's calls and the Graph connections
// opened; then the same for the bare handler.
func measureColdBurst(ctx context.Context, root, handler, bare string, n int) (*burstResult, error) {
	res := &burstResult{Invocations: n}
	var err error
	if res.TokenCalls, res.TLSConnections, err = coldBurstOnce(ctx, root, handler, entraPurged, n); err != nil {
		return nil, fmt.Errorf("entra-purge: %w", err)
	}
	if res.BareTokenCalls, res.BareTLSConnections, err = coldBurstOnce(ctx, root, bare, barePurged, n); err != nil {
		return nil, fmt.Errorf("bare handler: %w", err)
	}
	return res, nil
}

func coldBurstOnce(ctx context.Context, root, bin string, purged func(int, []byte) bool, n int) (tokenCalls, conns int, err error) {
	st, err := startGraphStack(root, graphsim.ThrottleLimits{}, true)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	ids := st.addUsers(n)
	bodies := make([][]byte, n)
	for i, id := range ids {
		if bodies[i], err = invocationBody([]byte(id), int64(i+1), time.Now()); err != nil {
			return 0, 0, err
		}
	}
	p, err := startProc(bin, root, st.Settings, nil)
	if err != nil {
		return 0, 0, err
	}
	defer p.stop(5 * time.Second)
	if _, err := p.waitReady(ctx, 5*time.Millisecond); err != nil {
		return 0, 0, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	// Open the n connections to the handler first, so the burst is n invocations at once, not n dials.
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if resp, err := client.Get(p.url() + "/"); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	startLine := make(chan struct{})
	errs := make(chan error, n)
	for _, b := range bodies {
		wg.Go(func() {
			<-startLine
			status, raw, err := invoke(ctx, client, p.port, b)
			if err == nil && !purged(status, raw) {
				err = fmt.Errorf("%w: %d %s", errAnswer, status, raw)
			}
			errs <- err
		})
	}
	close(startLine)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return 0, 0, fmt.Errorf("%w; stderr: %s", err, p.stderrText())
		}
	}
	return st.Identity.Calls(), st.TLS.Connections(), nil
}
