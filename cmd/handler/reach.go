package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/entra-purge/entra-purge/internal/bus"
)

// noticeAfter is how long a command waits in silence before saying what it is waiting for.
const noticeAfter = 2 * time.Second

// unreachableError is a service that could not be reached within the wait: a temporary problem, exit 3.
type unreachableError struct {
	Service string // "Service Bus", "Microsoft Graph", "the managed-identity endpoint"
	Address string // what the operator configured: sb://host:port, https://graph.microsoft.com
	Wait    time.Duration
	Cause   error
	Hint    string
}

func (e *unreachableError) Error() string {
	s := fmt.Sprintf("cannot reach %s at %s within %s: %v", e.Service, e.Address, e.Wait, e.Cause)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *unreachableError) Unwrap() error { return e.Cause }

// reach bounds how long a command waits for a service and, past a moment, says on stderr what it is
// waiting for: an operator should never stare at a silent terminal.
type reach struct {
	cmd    string
	wait   time.Duration
	stderr io.Writer
}

// target is a service a command talks to.
type target struct {
	service string // for people: "Service Bus"
	display string // for people: sb://127.0.0.1:5672
	addr    string // host:port to dial
	hint    string // added when it cannot be reached
}

// dial checks that t accepts connections, within the wait, so that a wrong or down address is reported
// with its cause (connection refused, no such host) instead of a client library's deadline.
func (r reach) dial(ctx context.Context, t target) error {
	if t.addr == "" {
		return nil
	}
	return r.do(ctx, t, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", t.addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// do runs op with the wait as its deadline. A deadline, a dial failure or a temporary Service Bus error
// becomes an *unreachableError naming t.
func (r reach) do(ctx context.Context, t target, op func(context.Context) error) error {
	octx, cancel := context.WithTimeout(ctx, r.wait)
	defer cancel()
	notice := time.AfterFunc(noticeAfter, func() {
		fmt.Fprintf(r.stderr, "handler %s: waiting for %s at %s (up to %s; Ctrl-C to stop)\n", r.cmd, t.service, t.display, r.wait)
	})
	err := op(octx)
	notice.Stop()
	if err == nil || ctx.Err() != nil {
		return err
	}
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &unreachableError{Service: t.service, Address: t.display, Wait: r.wait, Cause: errors.New("no answer"), Hint: t.hint}
	case errors.As(err, &opErr):
		return &unreachableError{Service: t.service, Address: t.display, Wait: r.wait, Cause: opErr.Err, Hint: t.hint}
	case bus.Temporary(err):
		return &unreachableError{Service: t.service, Address: t.display, Wait: r.wait, Cause: err, Hint: t.hint}
	}
	return err
}

// exitCode is the exit code for a command that stopped on err: 3 for what may pass (a service out of
// reach), 130 after Ctrl-C, 1 otherwise.
func exitCode(ctx context.Context, err error) int {
	var ue *unreachableError
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.As(err, &ue), bus.Temporary(err):
		return exitRetryLater
	}
	return exitFailure
}

// exitInterrupted is what a shell reports for a command stopped by Ctrl-C.
const exitInterrupted = 130

// serviceBusTarget is the namespace the configuration names.
func (a *app) serviceBusTarget() target {
	t := target{service: "Service Bus", display: a.cfg.SBEndpoint, addr: a.cfg.ServiceBusAddress()}
	if host, _, err := net.SplitHostPort(t.addr); err == nil && !a.cfg.SBEmulator {
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			t.hint = "a connection string for the local emulator needs UseDevelopmentEmulator=true"
		}
	}
	if t.display != "" && a.cfg.ServiceBusAddress() != "" {
		t.display = "sb://" + a.cfg.ServiceBusAddress()
	}
	return t
}

// graphTarget is the Microsoft Graph endpoint the configuration names.
func (a *app) graphTarget() target {
	return target{service: "Microsoft Graph", display: a.cfg.GraphEndpoint, addr: hostPort(a.cfg.GraphEndpoint)}
}

// identityTarget is the managed-identity endpoint, when the credential uses one.
func (a *app) identityTarget() (target, bool) {
	if !a.cfg.ManagedIdentity {
		return target{}, false
	}
	u, err := url.Parse(a.cfg.IdentityEndpoint)
	if err != nil {
		return target{}, false
	}
	return target{service: "the managed-identity endpoint", display: u.Scheme + "://" + u.Host, addr: hostPort(a.cfg.IdentityEndpoint)}, true
}

// hostPort is the host:port of an http(s) URL, with the scheme's default port.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}
