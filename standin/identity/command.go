package identity

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/entra-purge/entra-purge/standin/internal/cli"
)

// Command is `go run ./standin identity`: the endpoint served over HTTP until ctx ends, so that a handler
// started by hand authenticates with the same ManagedIdentityCredential code path it uses in Azure:
//
//	go run ./standin identity -roles User.DeleteRestore.All,Application.ReadWrite.All
//	export IDENTITY_ENDPOINT=http://127.0.0.1:7082/msi/token IDENTITY_HEADER=entra-purge-local-identity-header
//
// Each token request is logged to stdout as a JSON line (never the token).
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standin identity", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7082", "listen address")
	roles := fs.String("roles", "User.DeleteRestore.All,Application.ReadWrite.All", "comma-separated app roles put in every token")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	s := New(Options{Roles: cli.SplitList(*roles), Log: os.Stdout})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "identity: listening on %s\n  export IDENTITY_ENDPOINT=http://%s/msi/token IDENTITY_HEADER=%s\n", ln.Addr(), ln.Addr(), DefaultHeader)
	return cli.Serve(ctx, ln, s)
}
