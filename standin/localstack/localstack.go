// Package localstack is the local stack: every stand-in entra-purge talks to — the Service Bus emulator,
// the Graph simulator and the managed-identity endpoint — started on free loopback ports (Start), with the
// app settings that point the real handler at them; and the demo that `make run` (`go run ./standin
// localstack`) shows on top of it (RunDemo): the real ./handler under the Functions host stand-in, one
// request per scenario, each followed to where it ends. The end-to-end tests start the same stack, so the
// demo a newcomer sees is the stack the tests prove.
//
// Settings come from local.settings.sample.json, the same file that documents an Azure deployment; only the
// addresses (emulator endpoint, Graph endpoint, identity endpoint) are rewritten to the ports chosen here.
package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/entra-purge/entra-purge/standin/graphsim"
	"github.com/entra-purge/entra-purge/standin/identity"
	"github.com/entra-purge/entra-purge/standin/sbemu"
)

// Options configures Start. The zero value starts the stack with the sample settings' queues and an
// identity holding the permissions the default PURGE_ALLOWED_TYPES needs.
type Options struct {
	// AppRoot holds local.settings.sample.json (and host.json); default: the directory holding go.mod.
	AppRoot string
	// Roles of the managed identity's Graph token. Nil means DefaultRoles.
	Roles []string
	// Queues of the emulator. Nil means the queues infra/ creates: the trigger queue (duplicate detection,
	// MaxDeliveryCount 10) and the failure queue (duplicate detection, MaxDeliveryCount 100).
	Queues []sbemu.Queue
	// Overrides replace settings from the sample file (after the addresses are rewritten).
	Overrides map[string]string
	// Graph configures the simulator (Now, Throttle, …); Log fields default to GraphLog.
	Graph graphsim.Options
	// GraphLog, IdentityLog and BusLog receive the stand-ins' JSON event lines; nil discards them.
	GraphLog, IdentityLog, BusLog io.Writer
}

// DefaultRoles are the application permissions of a correctly granted identity (README "Graph permissions").
var DefaultRoles = []string{"User.DeleteRestore.All", "User.Read.All", "Application.ReadWrite.All"}

// Stack is a running set of stand-ins.
type Stack struct {
	Graph       *graphsim.Server
	GraphURL    string
	Identity    *identity.Server
	IdentityURL string // the token endpoint (IDENTITY_ENDPOINT)
	Bus         *sbemu.Emulator
	// Settings are the app settings for the handler (and the host stand-in): the sample file's values
	// with this stack's addresses, and TMPDIR, a temporary directory of the stack's own: the handlers
	// started with these settings share it (a restarted handler reads the throttling pauses its
	// predecessor kept there), and Close removes it.
	Settings map[string]string

	servers []*http.Server
	tmp     string
}

// Start starts the stand-ins; they run until Close or until ctx ends. On error everything already started
// is stopped.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	root := opts.AppRoot
	if root == "" {
		if root, err = ModuleRoot(); err != nil {
			return nil, err
		}
	}
	settings, err := SampleSettings(root)
	if err != nil {
		return nil, err
	}
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	roles := opts.Roles
	if roles == nil {
		roles = DefaultRoles
	}
	header := settings["IDENTITY_HEADER"]
	if header == "" {
		header = identity.DefaultHeader
	}
	s.Identity = identity.New(identity.Options{Header: header, Roles: roles, Log: opts.IdentityLog,
		ClientID: "11111111-2222-4333-8444-555555555555", ObjectID: "66666666-7777-4888-9999-aaaaaaaaaaaa", TenantID: "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"})
	idAddr, err := s.serve(s.Identity)
	if err != nil {
		return nil, fmt.Errorf("identity endpoint: %w", err)
	}
	s.IdentityURL = "http://" + idAddr + "/msi/token"

	gopts := opts.Graph
	if gopts.Log == nil {
		gopts.Log = opts.GraphLog
	}
	s.Graph = graphsim.New(gopts)
	gAddr, err := s.serve(s.Graph)
	if err != nil {
		return nil, fmt.Errorf("graph simulator: %w", err)
	}
	s.GraphURL = "http://" + gAddr

	queues := opts.Queues
	if queues == nil {
		queues = sbemu.PurgeQueues(orDefault(settings["PURGE_QUEUE_NAME"], "purge-requests"), orDefault(settings["PURGE_FAILED_QUEUE_NAME"], "purge-failed"))
	}
	s.Bus, err = sbemu.Start(ctx, sbemu.Options{Queues: queues, Dir: filepath.Join(root, filepath.FromSlash(sbemu.ModuleDir)), Log: opts.BusLog})
	if err != nil {
		return nil, err
	}

	if s.tmp, err = os.MkdirTemp("", "entra-purge-localstack-"); err != nil {
		return nil, err
	}
	settings["TMPDIR"] = s.tmp
	settings["ServiceBusConnection"] = s.Bus.ConnectionString()
	settings["PURGE_GRAPH_ENDPOINT"] = s.GraphURL
	settings["IDENTITY_ENDPOINT"] = s.IdentityURL
	settings["IDENTITY_HEADER"] = header
	for k, v := range opts.Overrides {
		settings[k] = v
	}
	s.Settings = settings
	return s, nil
}

// serve runs h on a free loopback port.
func (s *Stack) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Close stops every stand-in.
func (s *Stack) Close() {
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	s.servers = nil
	if s.Bus != nil {
		_ = s.Bus.Close()
	}
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
		s.tmp = ""
	}
}

// SampleSettings reads the Values of local.settings.sample.json in root.
func SampleSettings(root string) (map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "local.settings.sample.json"))
	if err != nil {
		return nil, err
	}
	var file struct {
		Values map[string]any `json:"Values"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return nil, fmt.Errorf("local.settings.sample.json: %w", err)
	}
	out := map[string]string{}
	for k, v := range file.Values {
		switch v := v.(type) {
		case string:
			out[k] = v
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(v)
		}
	}
	return out, nil
}

// BuildHandler builds the handler executable (./cmd/handler, static as in Azure) into out, so that a test
// or a run drives the code of this checkout rather than whatever ./handler was built last.
func BuildHandler(out string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", out, "./cmd/handler")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the handler: %w\n%s", err, b)
	}
	return nil
}

// BuildTempHandler builds the handler into a new temporary directory (named after pattern, as os.MkdirTemp
// names it) and returns its path and the function that removes the directory: a test binary's TestMain
// builds once and cleans up after m.Run.
func BuildTempHandler(pattern string) (bin string, remove func(), err error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "handler")
	if err := BuildHandler(bin); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// ModuleRoot walks up from the working directory to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("localstack: no go.mod above the working directory")
		}
		dir = parent
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
