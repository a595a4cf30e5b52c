package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/entra-purge/entra-purge/internal/config"
	"github.com/entra-purge/entra-purge/internal/server"
)

// serve runs the custom handler until ctx is cancelled (SIGTERM/SIGINT), then drains in-flight invocations.
// The Functions host restarts the handler on any non-zero exit and never on 0 (docs/functions-host.md §8.1), so
// serve never exits 0: after a graceful stop it exits 200, which the host treats as a request for a clean
// restart rather than an error.
func serve(ctx context.Context, e *env) int {
	stdout, stderr := e.stdout, e.stderr
	cfg, err := config.Load(e.getenv, &config.LoadOptions{Environ: e.environ, Serving: true})
	if err != nil {
		fmt.Fprintln(stderr, "entra-purge: "+err.Error())
		return exitConfig
	}
	log := zerolog.New(stdout).Level(cfg.LogLevel).With().Timestamp().Logger()
	a, err := newApp(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "entra-purge: "+err.Error())
		return exitFailure
	}
	defer a.Close()

	sw := server.Sweep{Timeout: cfg.SweepTimeout}
	if cfg.SweepEnabled {
		sw.Sweeper = a.sweeper(a.graph, a.bus, cfg.SweepAfter, false, nil)
	}
	srv := server.New(a.processor(policyOf(cfg)), a.bus, a.queues(), &server.Options{
		Timeout: cfg.InvocationTimeout, Log: stdout, Stderr: stderr, Level: cfg.LogLevel, Sweep: sw,
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "entra-purge: setting %s=%d: cannot listen on %s: %v\n", config.EnvPort, cfg.Port, addr, err)
		return exitFailure
	}
	// The longest invocation: a purge (PURGE_INVOCATION_TIMEOUT) or, when enabled, a sweep run
	// (PURGE_SWEEP_TIMEOUT). Answers and the drain on a signal must allow for it.
	longest := cfg.InvocationTimeout
	if cfg.SweepEnabled {
		longest = max(longest, cfg.SweepTimeout)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// The host's own client timeout is functionTimeout + 1 minute; ours only guards against a stuck peer.
		WriteTimeout: longest + 30*time.Second,
	}
	log.Info().Fields(cfg.Fields()).Str("listen", ln.Addr().String()).Msg("entra-purge handler started")

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintln(stderr, "entra-purge: server stopped: "+err.Error())
		return exitFailure
	case <-ctx.Done():
	}
	log.Info().Msg("entra-purge handler stopping: draining in-flight invocations")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), longest+5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "entra-purge: drain incomplete: "+err.Error())
		return exitFailure
	}
	log.Info().Msg("entra-purge handler stopped")
	return exitCleanReboot
}
