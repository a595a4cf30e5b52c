package identity

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/entra-purge/entra-purge/standin/internal/cli"
)

// Command is `go run ./standin identity`: the endpoint served over HTTP until ctx ends, so that a handler
// started by hand authenticates with the same ManagedIdentityCredential code path it uses in Azure:
//
//	go run ./standin identity -roles User.DeleteRestore.All,Application.ReadWrite.All
//	export IDENTITY_ENDPOINT=http://127.0.0.1:7082/msi/token IDENTITY_HEADER=entra-purge-local-identity-header
//
// Each token request is logged to stdout as a JSON line. The signing key must match the Graph
// simulator's: both read STANDIN_SIGNING_KEY, and both fall back to the same built-in development key.
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standin identity", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7082", "listen address")
	header := fs.String("header", envOr("IDENTITY_HEADER", DefaultHeader), "secret expected in X-IDENTITY-HEADER (env IDENTITY_HEADER)")
	roles := fs.String("roles", "User.DeleteRestore.All,Application.ReadWrite.All", "comma-separated app roles put in every token")
	clientID := fs.String("client-id", DefaultClientID, "client id (appid) of the identity")
	objectID := fs.String("object-id", DefaultObjectID, "object id (oid) of the identity")
	tenantID := fs.String("tenant-id", DefaultTenantID, "tenant id (tid)")
	lifetime := fs.Duration("lifetime", time.Hour, "token lifetime")
	key := fs.String("signing-key", os.Getenv("STANDIN_SIGNING_KEY"), "HS256 key shared with the Graph simulator (env STANDIN_SIGNING_KEY; empty = built-in development key)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}

	s := New(Options{
		Header: *header, Roles: cli.SplitList(*roles), Lifetime: *lifetime,
		ClientID: *clientID, ObjectID: *objectID, TenantID: *tenantID,
		SigningKey: []byte(*key), Log: os.Stdout,
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "identity: listening on %s\n  export IDENTITY_ENDPOINT=http://%s/msi/token IDENTITY_HEADER=%s\n", ln.Addr(), ln.Addr(), s.Options().Header)
	return cli.Serve(ctx, ln, s)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
