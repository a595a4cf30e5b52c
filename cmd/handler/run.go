package main

import (
	"context"
	"fmt"
	"io"
)

// run dispatches to a subcommand; with none, it serves the host.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "serve" {
		return serve(ctx, getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "handler: unknown command %q\n", args[0])
	return exitUsage
}
