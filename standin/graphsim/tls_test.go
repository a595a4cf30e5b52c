package graphsim

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/standin/identity"
)

// Over HTTPS the simulator is reached as Graph is: a client that trusts the generated certificate gets
// HTTP/2, the token's audience is the https URL, and the server counts the connections opened.
func TestServeTLS(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.Add(deletedUser(1, time.Hour))
	ts, err := ServeTLS(e.sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Close() })

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ts.CertPEM) {
		t.Fatal("CertPEM holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	get := func(tok string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", ts.URL+"/v1.0/directory/deletedItems/"+guid(1), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}

	resp, err := get(e.tokenFor(identity.Options{Roles: []string{roleUserPurge}}, ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("GET over TLS: %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	// The token's audience must be the https URL: one for the plain-http address is refused.
	if resp, err := get(e.tokenFor(identity.Options{Roles: []string{roleUserPurge}}, e.ts.URL)); err != nil || resp.StatusCode != 401 {
		t.Fatalf("token for another audience: %v %v, want 401", resp.StatusCode, err)
	}
	// Later requests share the HTTP/2 connection.
	var wg sync.WaitGroup
	tok := e.tokenFor(identity.Options{Roles: []string{roleUserPurge}}, ts.URL)
	for range 10 {
		wg.Go(func() {
			if resp, err := get(tok); err != nil || resp.StatusCode != 200 {
				t.Errorf("concurrent GET: %v %v", resp, err)
			}
		})
	}
	wg.Wait()
	if c := ts.Connections(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}

	// A client without the certificate does not get through, and its attempt is counted.
	if _, err := (&http.Client{Transport: &http.Transport{}}).Get(ts.URL + "/v1.0/directory/deletedItems/" + guid(1)); err == nil {
		t.Error("a client that does not trust the certificate was answered")
	}
	if c := ts.Connections(); c != 2 {
		t.Errorf("after a refused handshake: %d connections, want 2", c)
	}
}
