package graphsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// TLSServer serves a handler (the simulator) over HTTPS on a loopback port, as Graph is only reachable
// over TLS, with HTTP/2 offered by ALPN as Graph's front door does. Its certificate is made for the
// occasion and is its own authority: a client trusts it by loading CertPEM — the handler through
// SSL_CERT_FILE, which Go reads on Linux instead of the system roots.
//
// It counts the connections clients open, which is how a test or the benchmark sees how many TLS
// connections a burst of calls opens.
type TLSServer struct {
	// URL is https://127.0.0.1:<port>, the value for PURGE_GRAPH_ENDPOINT.
	URL string
	// CertPEM is the server certificate, PEM-encoded: the one root a client needs.
	CertPEM []byte

	srv   *http.Server
	conns atomic.Int64
}

// ServeTLS starts serving h over HTTPS on a free loopback port, until Close.
func ServeTLS(h http.Handler) (*TLSServer, error) {
	cert, certPEM, err := selfSignedCert(time.Now())
	if err != nil {
		return nil, err
	}
	t := &TLSServer{CertPEM: certPEM}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.URL = "https://" + ln.Addr().String()
	t.srv = &http.Server{
		Handler:           h,
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				t.conns.Add(1)
			}
		},
		// A client that gives up on a connection it opened (or distrusts the certificate) is its business.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = t.srv.ServeTLS(ln, "", "") }()
	return t, nil
}

// Connections is the number of connections clients opened to the server (each one a TLS handshake).
func (t *TLSServer) Connections() int { return int(t.conns.Load()) }

// Close stops the server and closes every connection.
func (t *TLSServer) Close() error {
	err := t.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// selfSignedCert makes an ECDSA P-256 certificate for 127.0.0.1, ::1 and localhost, valid for a day,
// that signs itself (so it can be the client's only root).
func selfSignedCert(now time.Time) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "graphsim", Organization: []string{"entra-purge stand-ins"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("graphsim: making the TLS certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
