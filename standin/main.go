// Command standin runs the stand-ins for Azure that the tests and `make run` use, by hand:
//
//	go run ./standin <name> [flags]
//	go run ./standin help [name]
//
// Each subcommand's flags and code live in the stand-in's own package; this file only routes to them and
// turns Ctrl-C (SIGINT) or SIGTERM into the end of the command's context. Nothing here is deployed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/entra-purge/entra-purge/standin/funchost"
	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/identity"
	"github.com/entra-purge/entra-purge/standin/internal/cli"
	"github.com/entra-purge/entra-purge/standin/localstack"
	"github.com/entra-purge/entra-purge/standin/sbemu"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands = []command{
	{"localstack", "the whole pipeline on this machine and the demo (what `make run` runs; -logs DIR, -timeout D)", localstack.Command},
	{"graph", "the Microsoft Graph simulator on 127.0.0.1:7081 (-seed standin/seed.json)", graphsim.Command},
	{"identity", "the managed-identity endpoint on 127.0.0.1:7082", identity.Command},
	{"host", "the Functions host stand-in: runs ./handler on the trigger queue, as Azure does", funchost.Command},
	{"servicebus", "the Service Bus emulator (Node.js) on 127.0.0.1:5672", sbemu.Command},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, args := args[0], args[1:]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		if len(args) == 0 {
			usage(stdout)
			return 0
		}
		name, args = args[0], []string{"-h"}
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, args)
		var usageErr *cli.UsageError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
		case errors.As(err, &usageErr) && usageErr.Reported:
		default:
			fmt.Fprintf(stderr, "standin: %v\n", err)
		}
		return cli.Status(err)
	}
	fmt.Fprintf(stderr, "standin: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "The stand-ins for Azure that the tests and `make run` use, by hand (never deployed).\n\n")
	fmt.Fprintf(w, "usage: go run ./standin <command> [flags]\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-11s %s\n", "help", "this list; `help <command>` shows a command's flags")
	fmt.Fprintf(w, "\nSee standin/README.md for what each one is and how faithful it is.\n")
}
