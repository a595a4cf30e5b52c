package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entra-purge/entra-purge/internal/config"
	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/token"
)

const checkHelp = `
Checks that this deployment can work, without purging anything:
  settings     every setting is valid (the effective configuration is shown, secrets left out)
  identity     a token for Microsoft Graph can be had, and which application permissions it carries
  permissions  the token's permissions cover every type in PURGE_ALLOWED_TYPES (and reading, for verification)
  graph        Graph answers a read of the recycle bin for each allowed type
  service bus  the trigger and failure queues exist and can be read
Exit code 0 when every check passes, 1 when one fails, 3 when the only failures are services out of
reach (each is waited for at most --wait), 4 when a setting is wrong.
Remember that a new Graph permission can take hours to appear in a managed identity's token.
`

type checkLine struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
	// Unreachable marks a failure because a service could not be reached: it may pass by itself.
	Unreachable bool `json:"unreachable,omitempty"`
}

func cmdCheck(ctx context.Context, args []string, e *env) int {
	stdout := e.stdout
	f := newFlags("check", "[--wait D] [--output text|json]", checkHelp, e)
	if code := f.parse(args, stdout); code >= 0 {
		return code
	}
	cfg, err := config.Load(e.getenv, &config.LoadOptions{Environ: e.environ})
	if err != nil {
		if f.json() {
			writeJSON(stdout, map[string]any{"checks": []checkLine{{Check: "settings", Status: "fail", Detail: err.Error()}}})
		} else {
			fmt.Fprintf(stdout, "FAIL  settings      %v\n", err)
		}
		return exitConfig
	}
	var lines []checkLine
	add := func(check, status, format string, a ...any) {
		l := checkLine{Check: check, Status: status, Detail: fmt.Sprintf(format, a...)}
		lines = append(lines, l)
		if !f.json() {
			fmt.Fprintf(stdout, "%-4s  %-12s %s\n", strings.ToUpper(map[string]string{"ok": "ok", "warn": "warn", "fail": "FAIL"}[status]), check, l.Detail)
		}
	}
	// failed records a failed check; one that could not reach its service is marked as such.
	failed := func(check string, err error, format string, a ...any) {
		var ue *unreachableError
		if errors.As(err, &ue) {
			add(check, "fail", "%v", ue)
			lines[len(lines)-1].Unreachable = true
			return
		}
		add(check, "fail", format, a...)
	}
	if !f.json() {
		fmt.Fprintln(stdout, "Effective configuration:")
		fields := cfg.Fields()
		for _, k := range cfg.SortedFieldNames() {
			fmt.Fprintf(stdout, "  %-18s %v\n", k, fields[k])
		}
		fmt.Fprintln(stdout)
	}
	add("settings", "ok", "all settings valid")

	a, err := newApp(cfg, e.stderr)
	if err != nil {
		add("identity", "fail", "%v", err)
		return finishCheck(f, stdout, cfg, lines)
	}
	defer a.Close()
	r := reach{cmd: "check", wait: *f.wait, stderr: e.stderr}

	idTarget, mi := a.identityTarget()
	if !mi {
		idTarget = target{service: "the developer credential chain", display: "DefaultAzureCredential (az login, azd, environment)"}
	}
	var tk azcore.AccessToken
	err = r.dial(ctx, idTarget)
	if err == nil {
		err = r.do(ctx, idTarget, func(ctx context.Context) (err error) {
			tk, err = a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{cfg.GraphScope}})
			return err
		})
	}
	var roles []string
	if err != nil {
		failed("identity", err, "no token for %s: %v", cfg.GraphScope, firstLine(err))
	} else if claims, perr := token.Parse(tk.Token); perr != nil {
		add("identity", "warn", "got a token for %s, but it is not a JWT: its permissions cannot be listed", cfg.GraphScope)
	} else {
		roles = claims.Roles
		add("identity", "ok", "token for %s (app %s, object %s, tenant %s), valid until %s; roles: %s",
			claims.Audience, claims.AppID, claims.ObjectID, claims.TenantID, claims.ExpiresAt().Format(time.RFC3339), orNone(roles))
		checkPermissions(cfg, roles, add)
	}

	graphTarget := a.graphTarget()
	if err := r.dial(ctx, graphTarget); err != nil {
		failed("graph", err, "")
	} else {
		for _, t := range cfg.AllowedTypes {
			var call directory.Call
			err := r.do(ctx, graphTarget, func(ctx context.Context) (err error) {
				call, err = a.graph.ProbeDeletedItems(ctx, t)
				return err
			})
			switch {
			case err == nil:
				add("graph", "ok", "%s: read deleted %s objects (request-id %s)", cfg.GraphEndpoint, t, call.RequestID)
			case directory.KindOf(err) == directory.Forbidden:
				add("graph", "fail", "%s: reading deleted %s objects was refused (%d %s): grant %s", cfg.GraphEndpoint, t, call.Status, call.Code, t.ReadPermission())
			default:
				failed("graph", err, "%s: %v", cfg.GraphEndpoint, firstLine(err))
			}
		}
	}

	sb := a.serviceBusTarget()
	if err := r.dial(ctx, sb); err != nil {
		failed("service bus", err, "")
	} else {
		for _, q := range []string{cfg.Queue, cfg.FailedQueue} {
			err := r.do(ctx, sb, func(ctx context.Context) error {
				_, err := a.bus.Peek(ctx, q, 1)
				return err
			})
			if err != nil {
				failed("service bus", err, "queue %s: %v", q, firstLine(err))
			} else {
				add("service bus", "ok", "queue %s exists and can be read", q)
			}
		}
	}
	return finishCheck(f, stdout, cfg, lines)
}

// checkPermissions compares the token's roles with what each allowed type needs.
func checkPermissions(cfg *config.Config, roles []string, add func(string, string, string, ...any)) {
	has := func(any []string) bool {
		for _, r := range any {
			if slices.Contains(roles, r) {
				return true
			}
		}
		return false
	}
	for _, t := range cfg.AllowedTypes {
		if ok, why := t.Purgeable(); !ok {
			add("permissions", "warn", "%s: %s", t, why)
			continue
		}
		if !has(t.PurgeRoles()) {
			add("permissions", "fail", "%s: the token lacks %s, needed to purge", t, strings.Join(t.PurgeRoles(), " or "))
		} else {
			add("permissions", "ok", "%s: may purge", t)
		}
		if cfg.Verify && !has(t.ReadRoles()) {
			add("permissions", "fail", "%s: the token lacks a read permission (%s), needed for verification", t, t.ReadPermission())
		}
		if t == directory.Application || t == directory.ServicePrincipal {
			if slices.Contains(roles, "Application.ReadWrite.OwnedBy") && !slices.Contains(roles, "Application.ReadWrite.All") {
				add("permissions", "warn", "%s: Application.ReadWrite.OwnedBy covers only objects this identity owns", t)
			}
		}
	}
}

// finishCheck prints the verdict and returns the exit code: 1 when a check failed for a cause that needs a
// fix, 3 when the only failures are services out of reach, 0 when every check passed.
func finishCheck(f flags, stdout io.Writer, cfg *config.Config, lines []checkLine) int {
	failed, unreachable := 0, 0
	for _, l := range lines {
		if l.Status == "fail" {
			failed++
			if l.Unreachable {
				unreachable++
			}
		}
	}
	if f.json() {
		writeJSON(stdout, map[string]any{"configuration": cfg.Fields(), "checks": lines, "failed": failed})
	} else if failed == 0 {
		fmt.Fprintln(stdout, "\nAll checks passed.")
	} else {
		fmt.Fprintf(stdout, "\n%d check(s) failed.\n", failed)
	}
	switch {
	case failed > unreachable:
		return exitFailure
	case failed > 0:
		return exitRetryLater
	}
	return exitOK
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
