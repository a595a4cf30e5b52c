package graph

import (
	"net/http"
	"sync"
)

// NewTransport is the HTTP client the Graph client uses by default, over base: one connection per Graph
// host on a cold burst (see firstDialGate).
func NewTransport(base *http.Transport) *http.Client {
	return &http.Client{Transport: newFirstDialGate(base)}
}

// firstDialGate lets the first request to a host go alone until it has an answer, and the requests that
// arrive meanwhile wait for it. A cold burst (100 invocations at once after a start) would otherwise open
// one TLS connection per request before the first HTTP/2 connection is up, and drop all but one again;
// once the first answer is in, the requests share its HTTP/2 connection (or, on HTTP/1.1, open what they
// need). If the first request fails, the next one tries alone again.
type firstDialGate struct {
	base http.RoundTripper

	mu    sync.Mutex
	hosts map[string]*gate
}

type gate struct {
	done chan struct{}
	open bool
}

func newFirstDialGate(base http.RoundTripper) *firstDialGate {
	return &firstDialGate{base: base, hosts: map[string]*gate{}}
}

func (t *firstDialGate) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	for {
		t.mu.Lock()
		g, ok := t.hosts[host]
		if !ok {
			g = &gate{done: make(chan struct{})}
			t.hosts[host] = g
			t.mu.Unlock()
			resp, err := t.base.RoundTrip(req)
			t.mu.Lock()
			if err != nil {
				delete(t.hosts, host)
			} else {
				g.open = true
			}
			t.mu.Unlock()
			close(g.done)
			return resp, err
		}
		open := g.open
		t.mu.Unlock()
		if open {
			return t.base.RoundTrip(req)
		}
		select {
		case <-g.done:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}
