package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/entra-purge/entra-purge/internal/config"
)

// Exit codes a script can branch on.
const (
	exitOK          = 0   // everything asked for was done
	exitFailure     = 1   // at least one request was refused or failed, or an operation failed
	exitUsage       = 2   // the command line was wrong
	exitRetryLater  = 3   // nothing failed for good, but at least one request hit a temporary error
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
  handler check                validate settings, reach Graph and Service Bus, show the token's permissions
  handler help [COMMAND]       show help for a command

Every command reads the same settings as the function (environment variables, see README "Settings"),
so run it with the Function App's settings or 'local.settings.json' values exported.

Exit codes: 0 done; 1 refused or failed; 2 bad command line; 3 temporary error, run again later;
4 bad setting.
`

// run dispatches to a subcommand; with none, it serves the host.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "serve" {
		return serve(ctx, getenv, stdout, stderr)
	}
	cmds := map[string]func(context.Context, []string, func(string) string, io.Writer, io.Writer) int{
		"purge": cmdPurge, "send": cmdSend, "failed": cmdFailed, "replay": cmdReplay, "check": cmdCheck,
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			if cmd, ok := cmds[args[1]]; ok {
				return cmd(ctx, []string{"--help"}, getenv, stdout, stderr)
			}
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "handler: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(ctx, args[1:], getenv, stdout, stderr)
}

// flags is a subcommand's flag set with the shared --output flag and a usage text that teaches.
type flags struct {
	*flag.FlagSet
	output *string
}

func newFlags(name, synopsis, help string, stderr io.Writer) flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := flags{FlagSet: fs, output: fs.String("output", "text", "output format: text or json")}
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
	return -1
}

func (f flags) json() bool { return *f.output == "json" }

// loadConfig loads the settings; on error it prints the one-line reason and returns exitConfig.
func loadConfig(getenv func(string) string, stderr io.Writer) (*config.Config, int) {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "entra-purge: "+err.Error())
		return nil, exitConfig
	}
	return cfg, -1
}

// openApp loads the settings and builds the clients; on error it prints one line and returns the exit code.
func openApp(getenv func(string) string, stderr io.Writer) (*app, int) {
	cfg, code := loadConfig(getenv, stderr)
	if cfg == nil {
		return nil, code
	}
	a, err := newApp(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "entra-purge: "+err.Error())
		return nil, exitFailure
	}
	return a, -1
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
