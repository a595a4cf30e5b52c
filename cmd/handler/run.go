package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/buildinfo"
	"github.com/entra-purge/entra-purge/internal/config"
)

// Exit codes a script can branch on.
const (
	exitOK          = 0   // everything asked for was done
	exitFailure     = 1   // at least one request was refused or failed, or an operation failed
	exitUsage       = 2   // the command line was wrong
	exitRetryLater  = 3   // nothing failed for good, but a service could not be reached or a request hit a temporary error
	exitConfig      = 4   // a setting is wrong; the message names it
	exitCleanReboot = 200 // serve only: stopped on a signal; the Functions host restarts the handler cleanly
)

const usage = `entra-purge — permanently delete Microsoft Entra objects from the recycle bin.

Usage:
  handler                      serve the Azure Functions host (what host.json runs)
  handler purge ID...          purge objects now, with every safety check (to test permissions)
  handler send ID...           enqueue purge requests on PURGE_QUEUE_NAME
  handler failed               list the failure queue (peek only; nothing is removed)
  handler replay               move failure-queue messages back to the trigger queue after a fix
  handler sweep                enqueue every object past the retention (PURGE_SWEEP_AFTER); --dry-run reports
  handler check                validate settings, reach Graph and Service Bus, show the token's permissions
  handler help [COMMAND]       show help for a command
  handler --version            print the build's version

Every command reads the same settings as the function (environment variables, see README "Settings"),
so run it with the Function App's settings or 'local.settings.json' values exported. A command that
talks to Service Bus or Graph waits at most --wait (default 20s) for it, says what it is waiting for,
and exits 3 if it cannot be reached.

Exit codes: 0 done; 1 refused or failed; 2 bad command line; 3 temporary error or a service out of
reach, run again later; 4 bad setting.
`

// command is one subcommand: it parses its own flags from args and returns the exit code.
type command func(ctx context.Context, args []string, e *env) int

// env is what a command runs with: the process environment, and where its output goes.
type env struct {
	environ        []string
	vars           map[string]string
	stdout, stderr io.Writer
}

func newEnv(environ []string, stdout, stderr io.Writer) *env {
	e := &env{environ: environ, vars: map[string]string{}, stdout: stdout, stderr: stderr}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e.vars[k] = v
		}
	}
	return e
}

func (e *env) getenv(k string) string { return e.vars[k] }

var commands = map[string]command{
	"purge": cmdPurge, "send": cmdSend, "failed": cmdFailed, "replay": cmdReplay, "check": cmdCheck, "sweep": cmdSweep,
}

// run dispatches to a subcommand; with none, it serves the host. environ is the process environment
// (os.Environ in main): settings are read from it, and any PURGE_ name in it must be a known setting.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) int {
	e := newEnv(environ, stdout, stderr)
	if len(args) == 0 || args[0] == "serve" {
		return serve(ctx, e)
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		if cmd, ok := commands[args[1]]; ok {
			return cmd(ctx, []string{"--help"}, e)
		}
		fmt.Fprintf(stderr, "handler help: unknown command %q\n\n%s", args[1], usage)
		return exitUsage
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "entra-purge "+buildinfo.Version)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "handler: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(ctx, args[1:], e)
}

// defaultWait bounds how long a command waits for Service Bus or Graph to answer.
const defaultWait = 20 * time.Second

// flags is a subcommand's flag set with the shared --output and --wait flags and a usage text that teaches.
type flags struct {
	*flag.FlagSet
	output *string
	wait   *time.Duration
}

func newFlags(name, synopsis, help string, e *env) flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	f := flags{FlagSet: fs, output: fs.String("output", "text", "output format: text or json"),
		wait: fs.Duration("wait", defaultWait, "how long to wait for Service Bus or Graph before giving up (exit 3)")}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: handler %s %s\n\n%s\nFlags:\n", name, synopsis, strings.TrimSpace(help)+"\n")
		fs.PrintDefaults()
	}
	return f
}

// parse returns the exit code to stop with, or -1 to go on.
func (f flags) parse(args []string, stdout io.Writer) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			out := f.Output()
			f.SetOutput(stdout)
			f.Usage()
			f.SetOutput(out)
			return exitOK
		}
	}
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *f.output != "text" && *f.output != "json" {
		fmt.Fprintf(f.Output(), "handler %s: --output must be text or json\n", f.Name())
		return exitUsage
	}
	if *f.wait <= 0 {
		fmt.Fprintf(f.Output(), "handler %s: --wait must be positive, such as 20s\n", f.Name())
		return exitUsage
	}
	return -1
}

func (f flags) json() bool { return *f.output == "json" }

// loadConfig loads the settings (refusing unknown PURGE_ names); on error it prints the one-line reason
// and returns exitConfig. needServiceBus is false only for commands that never use it.
func loadConfig(e *env, needServiceBus bool) (*config.Config, int) {
	cfg, err := config.Load(e.getenv, &config.LoadOptions{Environ: e.environ, ServiceBusOptional: !needServiceBus})
	if err != nil {
		fmt.Fprintln(e.stderr, "entra-purge: "+err.Error())
		return nil, exitConfig
	}
	return cfg, -1
}

// openApp loads the settings and builds the clients; on error it prints one line and returns the exit code.
func openApp(e *env, needServiceBus bool) (*app, int) {
	cfg, code := loadConfig(e, needServiceBus)
	if cfg == nil {
		return nil, code
	}
	a, err := newApp(cfg, e.stderr)
	if err != nil {
		fmt.Fprintln(e.stderr, "entra-purge: "+err.Error())
		return nil, exitFailure
	}
	return a, -1
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
