package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/identity"
	"github.com/entra-purge/entra-purge/standin/localstack"
)

// graphStack is what the CPU and cold-burst measurements need: the managed-identity endpoint and the
// Graph simulator, over plain HTTP or over TLS with a certificate the handlers trust through
// SSL_CERT_FILE. Nothing is sent to Service Bus when every request is purged, so the emulator is not
// started; the settings still name the sample's namespace, as a deployment would.
type graphStack struct {
	Graph    *graphsim.Server
	Identity *identity.Server
	TLS      *graphsim.TLSServer // nil over plain HTTP
	Settings map[string]string

	servers []*http.Server
	dir     string
}

// startGraphStack starts the identity endpoint and the simulator (with limits; the zero value is Graph's
// own), and returns the handler settings: the sample file's values pointing at them.
func startGraphStack(root string, limits graphsim.ThrottleLimits, useTLS bool) (*graphStack, error) {
	settings, err := localstack.SampleSettings(root)
	if err != nil {
		return nil, err
	}
	s := &graphStack{Settings: settings}
	s.Identity = identity.New(identity.Options{Header: settings["IDENTITY_HEADER"], Roles: localstack.DefaultRoles})
	idAddr, err := s.serve(s.Identity)
	if err != nil {
		return nil, err
	}
	s.Graph = graphsim.New(graphsim.Options{Throttle: limits})
	settings["IDENTITY_ENDPOINT"] = "http://" + idAddr + "/msi/token"
	if useTLS {
		if s.TLS, err = graphsim.ServeTLS(s.Graph); err != nil {
			s.Close()
			return nil, err
		}
		if s.dir, err = os.MkdirTemp("", "entra-purge-bench-tls-"); err != nil {
			s.Close()
			return nil, err
		}
		certFile := filepath.Join(s.dir, "graphsim.pem")
		if err := os.WriteFile(certFile, s.TLS.CertPEM, 0o644); err != nil {
			s.Close()
			return nil, err
		}
		settings["PURGE_GRAPH_ENDPOINT"] = s.TLS.URL
		settings["SSL_CERT_FILE"] = certFile
	} else {
		gAddr, err := s.serve(s.Graph)
		if err != nil {
			s.Close()
			return nil, err
		}
		settings["PURGE_GRAPH_ENDPOINT"] = "http://" + gAddr
	}
	return s, nil
}

func (s *graphStack) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// addUsers puts n deleted users (deleted two days ago: past any minimum age, inside the 30 days) in the
// recycle bin and returns their ids.
func (s *graphStack) addUsers(n int) []string {
	return addUsers(s.Graph, n)
}

func addUsers(g *graphsim.Server, n int) []string {
	ids := make([]string, n)
	objs := make([]graphsim.Object, n)
	at := time.Now().Add(-48 * time.Hour)
	for i := range ids {
		ids[i] = uuid.NewString()
		objs[i] = graphsim.Object{ID: ids[i], Type: "user", DisplayName: fmt.Sprintf("Bench Leaver %d", i),
			UserPrincipalName: fmt.Sprintf("leaver%d@contoso.example", i), DeletedAt: at}
	}
	g.Add(objs...)
	return ids
}

// Close stops the servers and removes the certificate.
func (s *graphStack) Close() {
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	if s.TLS != nil {
		_ = s.TLS.Close()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// with returns a copy of settings with extra applied.
func with(settings map[string]string, extra map[string]string) map[string]string {
	out := make(map[string]string, len(settings)+len(extra))
	for k, v := range settings {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}
