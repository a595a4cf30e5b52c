// Package config turns the Function App's settings (environment variables, docs/contract.md §10) into a typed
// [Config]. Every problem is reported as a [*SettingError] naming the setting, so a bad value stops start-up
// with one line an operator can act on. Secret values (connection strings) are never echoed back.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/entra-purge/entra-purge/internal/directory"
)

// Setting names, as app settings and environment variables.
const (
	EnvPort              = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvSBConnection      = "ServiceBusConnection"
	EnvSBNamespace       = "ServiceBusConnection__fullyQualifiedNamespace"
	EnvQueue             = "PURGE_QUEUE_NAME"
	EnvFailedQueue       = "PURGE_FAILED_QUEUE_NAME"
	EnvCloud             = "PURGE_CLOUD"
	EnvGraphEndpoint     = "PURGE_GRAPH_ENDPOINT"
	EnvClientID          = "AZURE_CLIENT_ID"
	EnvIdentityEndpoint  = "IDENTITY_ENDPOINT"
	EnvMaxAttempts       = "PURGE_MAX_ATTEMPTS"
	EnvNotFoundGrace     = "PURGE_NOT_FOUND_GRACE"
	EnvRetryBaseDelay    = "PURGE_RETRY_BASE_DELAY"
	EnvRetryMaxDelay     = "PURGE_RETRY_MAX_DELAY"
	EnvInvocationTimeout = "PURGE_INVOCATION_TIMEOUT"
	EnvVerify            = "PURGE_VERIFY"
	EnvAllowedTypes      = "PURGE_ALLOWED_TYPES"
	EnvProtectedIDs      = "PURGE_PROTECTED_IDS"
	EnvMinDeletedAge     = "PURGE_MIN_DELETED_AGE"
	EnvAllowSynced       = "PURGE_ALLOW_SYNCED"
	EnvDryRun            = "PURGE_DRY_RUN"
	EnvLogLevel          = "PURGE_LOG_LEVEL"
	EnvMaxWritesPerSec   = "PURGE_MAX_WRITES_PER_SECOND"
	EnvSweepSchedule     = "PURGE_SWEEP_SCHEDULE"
	EnvSweepAfter        = "PURGE_SWEEP_AFTER"
	EnvSweepTimeout      = "PURGE_SWEEP_TIMEOUT"

	// EnvSweepDisabled and EnvSweepDisabledDotted disable the sweep function the Functions way: the host
	// reads AzureWebJobs.<function>.Disabled and, because Linux environment variables cannot hold dots,
	// AzureWebJobs_<function>_Disabled (docs/functions-host.md §2.7). The handler reads both to know
	// whether the host will run the timer, and so whether the sweep's settings are needed.
	EnvSweepDisabled       = "AzureWebJobs_sweep_Disabled"
	EnvSweepDisabledDotted = "AzureWebJobs.sweep.Disabled"
)

// Limits of PURGE_SWEEP_AFTER: the recycle bin is a restore window, so less than a day is refused as a
// mistake, and Entra removes objects 30 days after deletion, so a longer wait would never find any.
const (
	MinSweepAfter = 24 * time.Hour
	MaxSweepAfter = 30 * 24 * time.Hour
)

// Cloud is a Microsoft cloud: its name as PURGE_CLOUD spells it and its Microsoft Graph root.
type Cloud struct {
	Name          string
	GraphEndpoint string
}

// Clouds are the values PURGE_CLOUD accepts (docs/graph.md §5).
var Clouds = []Cloud{
	{"AzureCloud", "https://graph.microsoft.com"},
	{"AzureUSGovernment", "https://graph.microsoft.us"},
	{"AzureUSGovernmentDoD", "https://dod-graph.microsoft.us"},
	{"AzureChinaCloud", "https://microsoftgraph.chinacloudapi.cn"},
}

// Config is the handler's effective configuration.
type Config struct {
	// Port is where the handler listens (FUNCTIONS_CUSTOMHANDLER_PORT, set by the host).
	Port int

	// SBConnectionString is a Service Bus connection string (local emulator). Secret: never log it.
	// When empty, SBNamespace is used with the managed identity.
	SBConnectionString string
	SBNamespace        string
	// SBEndpoint is the namespace's address, safe to show: sb://host[:port] from the connection string,
	// or sb://<SBNamespace>. Empty when no Service Bus setting is given.
	SBEndpoint string
	// SBEmulator is true for a connection string with UseDevelopmentEmulator=true: plain AMQP, no TLS.
	SBEmulator bool

	Queue       string
	FailedQueue string

	Cloud Cloud
	// GraphEndpoint is the Graph root without a version segment, e.g. https://graph.microsoft.com.
	GraphEndpoint string
	// GraphScope is the token scope, which follows GraphEndpoint: "<scheme>://<host>/.default".
	GraphScope string
	// GraphInsecureHTTP is true only for a plain-http loopback endpoint (a local simulator).
	GraphInsecureHTTP bool

	// ClientID selects a user-assigned managed identity; empty means system-assigned.
	ClientID string
	// ManagedIdentity is true when the platform's identity endpoint is present (running in Azure, or
	// against the local stand-in): the credential is then the managed identity, not the developer chain.
	ManagedIdentity bool
	// IdentityEndpoint is that endpoint (IDENTITY_ENDPOINT, set by the platform), for reaching it.
	IdentityEndpoint string

	// MaxWritesPerSecond is this process's share of Graph's write budget: the ceiling of its adaptive
	// write limiter. infra/ sets it to the budget divided by the maximum instance count.
	MaxWritesPerSecond float64

	MaxAttempts       int
	NotFoundGrace     time.Duration
	RetryBaseDelay    time.Duration
	RetryMaxDelay     time.Duration
	InvocationTimeout time.Duration

	Verify        bool
	AllowedTypes  []directory.Type
	ProtectedIDs  []directory.ObjectID
	MinDeletedAge time.Duration
	AllowSynced   bool
	DryRun        bool

	LogLevel zerolog.Level

	// SweepEnabled is false when the sweep function is disabled (EnvSweepDisabled or its dotted form is
	// true or 1, as the host reads it). SweepSchedule is its NCRONTAB schedule, SweepAfter the retention
	// past which objects are enqueued, SweepTimeout the deadline of one run. Schedule and After are empty
	// or zero when not set (required only when serving with the sweep enabled).
	SweepEnabled  bool
	SweepSchedule string
	SweepAfter    time.Duration
	SweepTimeout  time.Duration
}

// SettingError reports a setting that could not be used. Its message is one line naming the setting.
type SettingError struct {
	Name  string
	Value string // empty when the value is secret or unset
	Err   error
}

func (e *SettingError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("setting %s: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("setting %s=%q: %v", e.Name, e.Value, e.Err)
}

func (e *SettingError) Unwrap() error { return e.Err }

// LoadOptions are the optional parts of [Load]. A nil *LoadOptions means defaults.
type LoadOptions struct {
	// ServiceBusOptional accepts a configuration without any Service Bus setting, for the commands that
	// never use it (handler purge). Settings that are given are still checked.
	ServiceBusOptional bool
	// Environ, when set, is the whole environment ("NAME=value" pairs, as os.Environ returns). Every
	// name starting with PURGE_ must then be a known setting: a typo such as PURGE_DRYRUN would
	// otherwise be ignored, and the handler would purge for real.
	Environ []string
	// Serving is set by `serve`: the settings of every function the host will run are then required, so
	// PURGE_SWEEP_SCHEDULE and PURGE_SWEEP_AFTER unless the sweep function is disabled. The operator's
	// commands check them only when they are given.
	Serving bool
}

// Load reads every setting through getenv (os.Getenv in production) and validates it. It returns the first
// problem found as a *SettingError.
func Load(getenv func(string) string, opts *LoadOptions) (*Config, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	l := loader{getenv: getenv}
	c := &Config{}
	if err := unknownSetting(opts.Environ); err != nil {
		return nil, err
	}

	c.Port = l.int(EnvPort, 8080, 1, 65535)

	c.SBConnectionString = strings.TrimSpace(getenv(EnvSBConnection))
	c.SBNamespace = strings.TrimSpace(getenv(EnvSBNamespace))
	switch {
	case c.SBConnectionString != "":
		cs, err := parseConnectionString(c.SBConnectionString)
		if err != nil {
			l.fail(EnvSBConnection, "", err)
		}
		c.SBEndpoint, c.SBEmulator = cs.endpoint, cs.emulator
	case c.SBNamespace != "":
		if !validHostName(c.SBNamespace) {
			l.fail(EnvSBNamespace, c.SBNamespace, errors.New("want a host name such as contoso.servicebus.windows.net"))
		}
		c.SBEndpoint = "sb://" + c.SBNamespace
	case !opts.ServiceBusOptional:
		l.fail(EnvSBNamespace, "", fmt.Errorf("not set: set it to the namespace host name (or %s to a connection string for a local emulator)", EnvSBConnection))
	}

	c.Queue = l.queue(EnvQueue, "purge-requests")
	c.FailedQueue = l.queue(EnvFailedQueue, "purge-failed")
	if l.err == nil && strings.EqualFold(c.Queue, c.FailedQueue) {
		l.fail(EnvFailedQueue, c.FailedQueue, fmt.Errorf("must differ from %s, or failures would be retried forever", EnvQueue))
	}

	cloudName := l.str(EnvCloud, "AzureCloud")
	for _, cl := range Clouds {
		if strings.EqualFold(cl.Name, cloudName) {
			c.Cloud = cl
		}
	}
	if c.Cloud.Name == "" {
		names := make([]string, len(Clouds))
		for i, cl := range Clouds {
			names[i] = cl.Name
		}
		l.fail(EnvCloud, cloudName, fmt.Errorf("want one of %s", strings.Join(names, ", ")))
	}
	c.GraphEndpoint = c.Cloud.GraphEndpoint
	if v := strings.TrimSpace(getenv(EnvGraphEndpoint)); v != "" {
		ep, insecure, err := parseGraphEndpoint(v)
		if err != nil {
			l.fail(EnvGraphEndpoint, v, err)
		}
		c.GraphEndpoint, c.GraphInsecureHTTP = ep, insecure
	}
	c.GraphScope = c.GraphEndpoint + "/.default"

	c.ClientID = strings.TrimSpace(getenv(EnvClientID))
	if _, err := directory.ParseObjectID(c.ClientID); c.ClientID != "" && err != nil {
		l.fail(EnvClientID, c.ClientID, errors.New("want the client id (a GUID such as 8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b) of the user-assigned identity, or leave it empty for the system-assigned one"))
	}
	c.IdentityEndpoint = strings.TrimSpace(getenv(EnvIdentityEndpoint))
	c.ManagedIdentity = c.IdentityEndpoint != ""

	c.MaxAttempts = l.int(EnvMaxAttempts, 8, 1, 100)
	c.NotFoundGrace = l.duration(EnvNotFoundGrace, 15*time.Minute, 0)
	c.RetryBaseDelay = l.duration(EnvRetryBaseDelay, 30*time.Second, time.Second)
	c.RetryMaxDelay = l.duration(EnvRetryMaxDelay, 15*time.Minute, time.Second)
	if l.err == nil && c.RetryMaxDelay < c.RetryBaseDelay {
		l.fail(EnvRetryMaxDelay, getenv(EnvRetryMaxDelay), fmt.Errorf("must be at least %s (%s)", EnvRetryBaseDelay, c.RetryBaseDelay))
	}
	c.InvocationTimeout = l.duration(EnvInvocationTimeout, 45*time.Second, 5*time.Second)
	c.MaxWritesPerSecond = l.float(EnvMaxWritesPerSec, 20, 0.1, 1000)

	c.Verify = l.bool(EnvVerify, true)
	c.AllowedTypes = l.types(EnvAllowedTypes, "user,application,servicePrincipal")
	c.ProtectedIDs = l.ids(EnvProtectedIDs)
	c.MinDeletedAge = l.duration(EnvMinDeletedAge, 0, 0)
	c.AllowSynced = l.bool(EnvAllowSynced, false)
	c.DryRun = l.bool(EnvDryRun, false)

	// Verification is what makes the type, synced-user and age guards possible. Turning it off must be a
	// conscious choice, not a silent loss of guards that are still configured.
	if l.err == nil && !c.Verify {
		if c.MinDeletedAge > 0 {
			l.fail(EnvVerify, "false", fmt.Errorf("%s needs verification (the deletion time comes from the GET); turn verification on or set %s=0", EnvMinDeletedAge, EnvMinDeletedAge))
		} else if !c.AllowSynced {
			l.fail(EnvVerify, "false", fmt.Errorf("without verification synced users cannot be recognised; set %s=true to accept that, or turn verification on", EnvAllowSynced))
		}
	}

	level := l.str(EnvLogLevel, "info")
	lv, err := zerolog.ParseLevel(strings.ToLower(level))
	// Only the five levels a log line can have: "disabled" or "panic" would silently drop the audit trail.
	if err != nil || lv < zerolog.TraceLevel || lv > zerolog.ErrorLevel {
		l.fail(EnvLogLevel, level, errors.New("want one of trace, debug, info, warn, error"))
	}
	c.LogLevel = lv

	l.sweep(c, opts)

	if l.err != nil {
		return nil, l.err
	}
	return c, nil
}

// parseGraphEndpoint accepts an https URL (or plain http on a loopback address, for the local simulator) and
// returns it without a trailing slash or a /v1.0 segment.
func parseGraphEndpoint(v string) (endpoint string, insecureHTTP bool, err error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", false, errors.New("want an absolute https URL such as https://graph.microsoft.com")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false, errors.New("want a base URL without query, fragment or credentials")
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", false, errors.New("plain http is allowed only for a loopback simulator; use https")
		}
		insecureHTTP = true
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/v1.0")
	p = strings.TrimSuffix(p, "/beta")
	return u.Scheme + "://" + u.Host + p, insecureHTTP, nil
}

// Fields returns the effective configuration without secrets, for the start-up log line and `handler check`.
func (c *Config) Fields() map[string]any {
	sb := "namespace " + c.SBNamespace + " (managed identity)"
	switch {
	case c.SBConnectionString != "":
		sb = "connection string (" + c.SBEndpoint + ")"
	case c.SBNamespace == "":
		sb = "not set"
	}
	identity := "developer credential chain (DefaultAzureCredential)"
	if c.ManagedIdentity {
		identity = "managed identity (system-assigned)"
		if c.ClientID != "" {
			identity = "managed identity (user-assigned, client id " + c.ClientID + ")"
		}
	}
	types := make([]string, len(c.AllowedTypes))
	for i, t := range c.AllowedTypes {
		types[i] = string(t)
	}
	return map[string]any{
		"port":               c.Port,
		"serviceBus":         sb,
		"queue":              c.Queue,
		"failedQueue":        c.FailedQueue,
		"cloud":              c.Cloud.Name,
		"graphEndpoint":      c.GraphEndpoint,
		"graphScope":         c.GraphScope,
		"identity":           identity,
		"maxAttempts":        c.MaxAttempts,
		"notFoundGrace":      c.NotFoundGrace.String(),
		"retryBaseDelay":     c.RetryBaseDelay.String(),
		"retryMaxDelay":      c.RetryMaxDelay.String(),
		"invocationTimeout":  c.InvocationTimeout.String(),
		"maxWritesPerSecond": c.MaxWritesPerSecond,
		"verify":             c.Verify,
		"allowedTypes":       strings.Join(types, ","),
		"protectedIds":       len(c.ProtectedIDs),
		"minDeletedAge":      c.MinDeletedAge.String(),
		"allowSynced":        c.AllowSynced,
		"dryRun":             c.DryRun,
		"logLevel":           c.LogLevel.String(),
		"sweepEnabled":       c.SweepEnabled,
		"sweepSchedule":      c.SweepSchedule,
		"sweepAfter":         FormatDuration(c.SweepAfter),
		"sweepTimeout":       c.SweepTimeout.String(),
	}
}

// FormatDuration writes a duration as a setting would: whole days as "7d", anything else as Go does.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// ServiceBusAddress is the host:port an AMQP connection to the namespace goes to: 5671 (AMQP over TLS),
// or 5672 for the emulator's plain AMQP, unless the endpoint names a port. Empty when none is configured.
func (c *Config) ServiceBusAddress() string {
	if c.SBEndpoint == "" {
		return ""
	}
	u, err := url.Parse(c.SBEndpoint)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	switch {
	case port != "":
	case c.SBEmulator:
		port = "5672"
	default:
		port = "5671"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// SortedFieldNames returns the keys of Fields in order, for stable text output.
func (c *Config) SortedFieldNames() []string {
	f := c.Fields()
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// loader collects the first error so Load reads as a list of settings.
type loader struct {
	getenv func(string) string
	err    error
}

func (l *loader) fail(name, value string, err error) {
	if l.err == nil {
		l.err = &SettingError{Name: name, Value: value, Err: err}
	}
}

func (l *loader) str(name, def string) string {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	return v
}

func (l *loader) int(name string, def, min, max int) int {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		l.fail(name, v, fmt.Errorf("want a whole number from %d to %d", min, max))
		return def
	}
	return n
}

func (l *loader) float(name string, def, min, max float64) float64 {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < min || f > max {
		l.fail(name, v, fmt.Errorf("want a number from %g to %g, such as 20 or 2.5", min, max))
		return def
	}
	return f
}

func (l *loader) bool(name string, def bool) bool {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.fail(name, v, errors.New("want true or false"))
		return def
	}
	return b
}

// duration accepts Go durations ("90s", "15m", "1h30m"), "0", and whole days ("7d").
func (l *loader) duration(name string, def, min time.Duration) time.Duration {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d < min {
		l.fail(name, v, fmt.Errorf("want a duration of at least %s, such as 30s, 15m, 2h or 7d", min))
		return def
	}
	return d
}

// ParseDuration is time.ParseDuration plus a whole-days form ("7d"), which age limits are usually given in.
func ParseDuration(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("invalid duration %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", v)
	}
	return d, nil
}

// queue validates a Service Bus queue name: letters, digits, '.', '-', '_', at most 260 characters.
func (l *loader) queue(name, def string) string {
	v := l.str(name, def)
	if len(v) > 260 {
		l.fail(name, v[:40]+"…", errors.New("a queue name has at most 260 characters"))
		return v
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			l.fail(name, v, errors.New("a queue name may contain only letters, digits, '.', '-' and '_'"))
			return v
		}
	}
	return v
}

func (l *loader) types(name, def string) []directory.Type {
	v := l.str(name, def)
	var out []directory.Type
	seen := map[directory.Type]bool{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		t, err := directory.ParseType(part)
		if err != nil {
			l.fail(name, v, err)
			return nil
		}
		if t == directory.AdministrativeUnit {
			_, why := t.Purgeable()
			l.fail(name, v, errors.New(why))
			return nil
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		l.fail(name, v, errors.New("list at least one object type, such as user"))
	}
	return out
}

// ids parses a comma-separated list of object ids, ignoring spaces and letter case.
func (l *loader) ids(name string) []directory.ObjectID {
	v := l.getenv(name)
	var out []directory.ObjectID
	for _, part := range strings.Split(v, ",") {
		part = strings.Join(strings.Fields(part), "")
		if part == "" {
			continue
		}
		id, err := directory.ParseObjectID(part)
		if err != nil {
			l.fail(name, "", fmt.Errorf("entry %q: %w", part, err))
			return nil
		}
		out = append(out, id)
	}
	return out
}
