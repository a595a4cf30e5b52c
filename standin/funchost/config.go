package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Function is one function of the app: a folder of the app root with a
// function.json whose trigger is a Service Bus trigger or a timer trigger.
type Function struct {
	// Name is the folder name, case preserved: the real host POSTs to /{Name}
	// and reports it as sys.MethodName.
	Name string
	// Dir is the function folder.
	Dir string
	// Trigger is the Service Bus trigger; unset (empty Name) for a timer function.
	Trigger Trigger
	// Timer is the timer trigger; nil for a Service Bus function.
	Timer *TimerTrigger
	// Disabled is set by the app setting AzureWebJobs.<Name>.Disabled, or its Linux
	// form AzureWebJobs_<Name>_Disabled, being true or 1 (docs/functions-host.md §2.7):
	// the function's trigger is not started.
	Disabled bool
}

// Trigger is a function's serviceBusTrigger binding with %SETTING% references
// resolved: a queue trigger with dataType "binary", the only kind the stand-in runs.
type Trigger struct {
	// Name is the binding name, the key of the message in the request's Data.
	Name      string
	QueueName string
	// Connection names the setting that holds the connection string.
	Connection string
}

// HostConfig is what host.json says, defaults applied.
type HostConfig struct {
	// FunctionTimeout bounds every invocation; 0 means unbounded ("-1").
	FunctionTimeout time.Duration
	// ExecutablePath is customHandler.description.defaultExecutablePath, %ENV%
	// expanded and made absolute when the file exists under WorkerDirectory.
	ExecutablePath string
	// Arguments are description.arguments, still unexpanded: they are expanded
	// against the environment of each process start.
	Arguments []string
	// WorkingDirectory is where the handler runs: description.workingDirectory
	// relative to the app root, or the app root.
	WorkingDirectory string
	// InitializationTimeout is customHandler.initializationTimeout (default 30 s),
	// the readiness limit.
	InitializationTimeout time.Duration
	// MaxConcurrentCalls is extensions.serviceBus.maxConcurrentCalls, per function
	// (default 16 × processors, as on every SKU except classic Consumption).
	MaxConcurrentCalls int
	// MaxAutoLockRenewalDuration bounds lock renewal per message; negative means
	// unbounded (host.json "-00:00:00.0010000").
	MaxAutoLockRenewalDuration time.Duration
}

// Defaults the real host applies when host.json is silent (docs/functions-host.md §2.2, §3.3,
// §6.3, §8.2).
const (
	DefaultFunctionTimeout       = 30 * time.Minute
	DefaultInitializationTimeout = 30 * time.Second
	DefaultLockRenewalDuration   = 5 * time.Minute
	minFunctionTimeout           = time.Second
)

// cfgInt and cfgBool accept a JSON number/bool or a string holding one, because
// the host binds host.json through .NET configuration, where every value is text.
type cfgInt struct {
	v   int
	set bool
}

func (c *cfgInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	c.v, c.set = v, true
	return nil
}

type cfgBool struct {
	v   bool
	set bool
}

func (c *cfgBool) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	v, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return fmt.Errorf("not a boolean: %s", b)
	}
	c.v, c.set = v, true
	return nil
}

type hostJSON struct {
	Version         *string          `json:"version"`
	Retry           json.RawMessage  `json:"retry"`
	FunctionTimeout *string          `json:"functionTimeout"`
	CustomHandler   *customHandlerJS `json:"customHandler"`
	Extensions      struct {
		ServiceBus struct {
			MaxConcurrentCalls         cfgInt  `json:"maxConcurrentCalls"`
			MaxAutoLockRenewalDuration *string `json:"maxAutoLockRenewalDuration"`
			AutoCompleteMessages       cfgBool `json:"autoCompleteMessages"`
		} `json:"serviceBus"`
	} `json:"extensions"`
}

type customHandlerJS struct {
	Description *struct {
		DefaultExecutablePath string   `json:"defaultExecutablePath"`
		WorkingDirectory      string   `json:"workingDirectory"`
		Arguments             []string `json:"arguments"`
	} `json:"description"`
	InitializationTimeout *string `json:"initializationTimeout"`
}

type functionJSON struct {
	Retry    json.RawMessage  `json:"retry"`
	Bindings []map[string]any `json:"bindings"`
}

// errManualSettlement refuses autoCompleteMessages false: a custom handler cannot
// settle messages, so the real host would then complete none of them.
var errManualSettlement = errors.New("autoCompleteMessages false is not supported by this stand-in (a custom handler cannot settle messages, so none would ever be completed)")

// appConfig is everything read from the app root.
type appConfig struct {
	root      string
	host      HostConfig
	functions []*Function
	settings  map[string]string // effective app settings
	source    string            // the settings file used, or ""
	skipped   []string          // file settings shadowed by the environment
}

// errRetryPolicy refuses function retry policies: the stand-in does not run
// them, and for Service Bus they are deprecated and hold the message lock while
// retrying (docs/functions-host.md §6.5); redelivery or scheduled copies do the job.
var errRetryPolicy = errors.New("a \"retry\" policy is not supported by this stand-in (deprecated for Service Bus triggers; rely on redelivery)")

// loadApp reads host.json, the settings and every function.json under root.
func loadApp(root string, overrides map[string]string, environ []string) (*appConfig, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	app := &appConfig{root: abs}
	if app.settings, app.source, app.skipped, err = loadSettings(abs, overrides, environ); err != nil {
		return nil, err
	}
	if app.host, err = loadHostJSON(abs, app.settings); err != nil {
		return nil, err
	}
	if app.functions, err = loadFunctions(abs, app.settings); err != nil {
		return nil, err
	}
	return app, nil
}

// loadSettings builds the app settings as Core Tools does: local.settings.json
// Values (the sample when there is no local.settings.json), except that a variable
// already set in the environment wins ("Skipping '…' from local settings as it's
// already defined in current environment variables"). Explicit overrides win over
// both; the demo and tests use them for ports.
func loadSettings(root string, overrides map[string]string, environ []string) (map[string]string, string, []string, error) {
	env := envMap(environ)
	settings := map[string]string{}
	source := ""
	var skipped []string
	for _, name := range []string{"local.settings.json", "local.settings.sample.json"} {
		p := filepath.Join(root, name)
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", nil, err
		}
		var f struct {
			IsEncrypted bool           `json:"IsEncrypted"`
			Values      map[string]any `json:"Values"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, "", nil, fmt.Errorf("%s: %w", p, err)
		}
		if f.IsEncrypted {
			return nil, "", nil, fmt.Errorf("%s: IsEncrypted is true; the stand-in reads plain values only", p)
		}
		for k, v := range f.Values {
			s, ok := v.(string)
			if !ok {
				return nil, "", nil, fmt.Errorf("%s: Values.%s must be a string, got %v", p, k, v)
			}
			if ev := env[k]; ev != "" {
				skipped = append(skipped, k)
				s = ev
			}
			settings[k] = s
		}
		source = p
		break
	}
	for k, v := range overrides {
		settings[k] = v
	}
	slices.Sort(skipped)
	return settings, source, skipped, nil
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func loadHostJSON(root string, settings map[string]string) (HostConfig, error) {
	p := filepath.Join(root, "host.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return HostConfig{}, err
	}
	var hj hostJSON
	if err := json.Unmarshal(data, &hj); err != nil {
		return HostConfig{}, fmt.Errorf("%s: %w", p, err)
	}
	if hj.Version == nil || *hj.Version != "2.0" {
		return HostConfig{}, fmt.Errorf("%s: the host.json file is missing the required 'version' property (\"2.0\")", p)
	}
	if len(hj.Retry) > 0 && string(hj.Retry) != "null" {
		return HostConfig{}, fmt.Errorf("%s: %s", p, errRetryPolicy)
	}
	ch := hj.CustomHandler
	if ch == nil || ch.Description == nil {
		return HostConfig{}, fmt.Errorf("%s: Missing worker Description: customHandler.description is required", p)
	}
	d := ch.Description
	if strings.TrimSpace(d.DefaultExecutablePath) == "" {
		return HostConfig{}, fmt.Errorf("%s: customHandler.description.defaultExecutablePath is required", p)
	}
	hc := HostConfig{
		FunctionTimeout:            DefaultFunctionTimeout,
		InitializationTimeout:      DefaultInitializationTimeout,
		MaxConcurrentCalls:         16 * runtime.NumCPU(),
		MaxAutoLockRenewalDuration: DefaultLockRenewalDuration,
	}
	if hj.FunctionTimeout != nil {
		ft, err := parseTimeSpan(*hj.FunctionTimeout)
		if err != nil {
			return hc, fmt.Errorf("%s: functionTimeout: %w", p, err)
		}
		switch {
		case ft < 0:
			hc.FunctionTimeout = 0 // "-1": unbounded on every SKU but classic Consumption
		case ft < minFunctionTimeout:
			return hc, fmt.Errorf("%s: functionTimeout %q must be at least 00:00:01", p, *hj.FunctionTimeout)
		default:
			hc.FunctionTimeout = ft
		}
	}
	if ch.InitializationTimeout != nil {
		it, err := parseTimeSpan(*ch.InitializationTimeout)
		if err != nil || it <= 0 {
			return hc, fmt.Errorf("%s: customHandler.initializationTimeout %q is not a positive time span", p, *ch.InitializationTimeout)
		}
		hc.InitializationTimeout = it
	}
	sb := hj.Extensions.ServiceBus
	if c := sb.MaxConcurrentCalls; c.set {
		if c.v < 1 {
			return hc, fmt.Errorf("%s: extensions.serviceBus.maxConcurrentCalls must be at least 1", p)
		}
		hc.MaxConcurrentCalls = c.v
	}
	if c := sb.AutoCompleteMessages; c.set && !c.v {
		return hc, fmt.Errorf("%s: %w", p, errManualSettlement)
	}
	if s := sb.MaxAutoLockRenewalDuration; s != nil {
		d, err := parseTimeSpan(*s)
		if err != nil {
			return hc, fmt.Errorf("%s: extensions.serviceBus.maxAutoLockRenewalDuration: %w", p, err)
		}
		hc.MaxAutoLockRenewalDuration = d
	}

	// The executable path is resolved as HttpWorkerDescription.ApplyDefaultsAndValidate
	// does: %ENV% expanded; relative and present under the app root → absolute;
	// otherwise left for a PATH lookup.
	env := envMap(os.Environ())
	for k, v := range settings {
		env[k] = v
	}
	exe := expandWindowsVars(d.DefaultExecutablePath, env, false)
	if !filepath.IsAbs(exe) {
		if cand := filepath.Join(root, exe); fileExists(cand) {
			exe = cand
		}
	}
	hc.ExecutablePath = exe
	hc.WorkingDirectory = root
	if d.WorkingDirectory != "" {
		hc.WorkingDirectory = joinRoot(root, d.WorkingDirectory)
	}
	hc.Arguments = append(hc.Arguments, d.Arguments...)
	return hc, nil
}

func joinRoot(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

var percentRef = regexp.MustCompile(`%([^%]+)%`)

// expandWindowsVars replaces %NAME% from vars. Unknown references are kept
// (Environment.ExpandEnvironmentVariables) or removed (the host's second pass over
// description.arguments), as drop says.
func expandWindowsVars(s string, vars map[string]string, drop bool) string {
	return percentRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[1:len(m)-1]]; ok {
			return v
		}
		if drop {
			return ""
		}
		return m
	})
}

// resolveBindingValue resolves %SETTING% references in a binding property as the
// WebJobs name resolver does: every reference must name a setting.
func resolveBindingValue(s string, settings map[string]string) (string, error) {
	var missing string
	out := percentRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := settings[name]; ok {
			return v
		}
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		if missing == "" {
			missing = m
		}
		return m
	})
	if missing != "" {
		return "", fmt.Errorf("'%s' does not resolve to a value", missing)
	}
	return out, nil
}

// loadFunctions reads every <dir>/function.json of the app root. Folders without
// one are not functions and are skipped, as the host does.
func loadFunctions(root string, settings map[string]string) ([]*Function, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var fns []*Function
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		p := filepath.Join(dir, "function.json")
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fn, err := parseFunction(e.Name(), dir, data, settings)
		if err != nil {
			return nil, fmt.Errorf("function %s (%s): %w", e.Name(), p, err)
		}
		fn.Disabled = disabledBySetting(fn.Name, settings, os.Environ())
		fns = append(fns, fn)
	}
	if len(fns) == 0 {
		return nil, fmt.Errorf("no functions with a function.json under %s", root)
	}
	return fns, nil
}

// disabledBySetting is HostListenerFactory.IsDisabled: the setting
// AzureWebJobs.<name>.Disabled or AzureWebJobs_<name>_Disabled is "true" or "1"
// (any case; configuration keys ignore case too). App settings win over the
// environment, as they are what the process gets.
func disabledBySetting(name string, settings map[string]string, environ []string) bool {
	names := []string{"AzureWebJobs." + name + ".Disabled", "AzureWebJobs_" + name + "_Disabled"}
	on := func(v string) bool { v = strings.TrimSpace(v); return strings.EqualFold(v, "true") || v == "1" }
	for _, n := range names {
		found := false
		for k, v := range settings {
			if strings.EqualFold(k, n) {
				found = true
				if on(v) {
					return true
				}
			}
		}
		if found {
			continue
		}
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, n) && on(v) {
				return true
			}
		}
	}
	return false
}

// parseFunction reads one function.json: a serviceBusTrigger or a timerTrigger
// function ("disabled" in function.json is the 1.x way and is ignored by the 4.x
// host; the app setting is read by loadFunctions).
func parseFunction(name, dir string, data []byte, settings map[string]string) (*Function, error) {
	var fj functionJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fj); err != nil {
		return nil, err
	}
	if len(fj.Retry) > 0 && string(fj.Retry) != "null" {
		return nil, errRetryPolicy
	}
	fn := &Function{Name: name, Dir: dir}
	found := false
	for i, b := range fj.Bindings {
		str := func(key string) (string, error) {
			for k, v := range b {
				if strings.EqualFold(k, key) {
					s, ok := v.(string)
					if !ok {
						return "", fmt.Errorf("binding %d: %s must be a string", i, key)
					}
					return resolveBindingValue(s, settings)
				}
			}
			return "", nil
		}
		typ, err := str("type")
		if err != nil {
			return nil, err
		}
		isTimer := strings.EqualFold(typ, "timerTrigger")
		if !isTimer && !strings.EqualFold(typ, "serviceBusTrigger") {
			return nil, fmt.Errorf("binding %d: type %q is not supported by this stand-in (only serviceBusTrigger and timerTrigger)", i, typ)
		}
		if found {
			return nil, fmt.Errorf("binding %d: a function has exactly one trigger", i)
		}
		found = true
		if isTimer {
			if fn.Timer, err = parseTimer(i, b, str); err != nil {
				return nil, err
			}
			continue
		}
		t := &fn.Trigger
		var dataType, topic string
		fields := []struct {
			key string
			dst *string
		}{{"name", &t.Name}, {"dataType", &dataType}, {"queueName", &t.QueueName}, {"topicName", &topic}, {"connection", &t.Connection}}
		for _, f := range fields {
			if *f.dst, err = str(f.key); err != nil {
				return nil, fmt.Errorf("binding %d: %s: %w", i, f.key, err)
			}
		}
		if dir, _ := str("direction"); dir != "" && !strings.EqualFold(dir, "in") {
			return nil, fmt.Errorf("binding %d: a serviceBusTrigger has direction \"in\", not %q", i, dir)
		}
		if t.Name == "" {
			return nil, fmt.Errorf("binding %d: name is required", i)
		}
		card, err := str("cardinality")
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(card) {
		case "", "one":
		case "many":
			return nil, fmt.Errorf("binding %d: cardinality \"many\" (batch dispatch) is not supported: custom handlers get "+
				"array-encoded Metadata, no lock renewal and all-or-nothing settlement; declare \"cardinality\": \"one\" (docs/functions-host.md §4.5 (D))", i)
		default:
			return nil, fmt.Errorf("binding %d: cardinality %q is neither \"one\" nor \"many\"", i, card)
		}
		if !strings.EqualFold(dataType, "binary") {
			return nil, fmt.Errorf("binding %d: dataType %q is not supported by this stand-in; declare \"dataType\": \"binary\", as the handler's function.json does", i, dataType)
		}
		if v, ok := lookupFold(b, "isSessionsEnabled"); ok && v == true {
			return nil, fmt.Errorf("binding %d: isSessionsEnabled is not supported by this stand-in", i)
		}
		if topic != "" || t.QueueName == "" {
			return nil, fmt.Errorf("binding %d: set queueName (topic subscriptions are not supported by this stand-in)", i)
		}
		if t.Connection == "" {
			return nil, fmt.Errorf("binding %d: connection is required (the name of the setting holding the connection string)", i)
		}
		if v, ok := lookupFold(b, "autoCompleteMessages"); ok {
			raw, _ := json.Marshal(v)
			var c cfgBool
			if err := c.UnmarshalJSON(raw); err != nil {
				return nil, fmt.Errorf("binding %d: autoCompleteMessages: %w", i, err)
			}
			if c.set && !c.v {
				return nil, fmt.Errorf("binding %d: %w", i, errManualSettlement)
			}
		}
	}
	if !found {
		return nil, errors.New("no serviceBusTrigger or timerTrigger binding")
	}
	return fn, nil
}

func lookupFold(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// parseTimeSpan parses .NET TimeSpan text: [-]d, [-][d.]hh:mm, [-][d.]hh:mm:ss[.fffffff].
func parseTimeSpan(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	bad := fmt.Errorf("%q is not a TimeSpan ([-][d.]hh:mm[:ss[.fffffff]])", orig)
	var d time.Duration
	if !strings.Contains(s, ":") {
		days, err := strconv.Atoi(s)
		if err != nil {
			return 0, bad
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return 0, bad
		}
		days := 0
		if dd, hh, ok := strings.Cut(parts[0], "."); ok {
			var err error
			if days, err = strconv.Atoi(dd); err != nil {
				return 0, bad
			}
			parts[0] = hh
		}
		h, err1 := strconv.Atoi(parts[0])
		m, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil || h > 23 || m > 59 || h < 0 || m < 0 {
			return 0, bad
		}
		d = time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		if len(parts) == 3 {
			secText, frac, hasFrac := strings.Cut(parts[2], ".")
			sec, err := strconv.Atoi(secText)
			if err != nil || sec > 59 || sec < 0 {
				return 0, bad
			}
			d += time.Duration(sec) * time.Second
			if hasFrac {
				if frac == "" || len(frac) > 7 {
					return 0, bad
				}
				f, err := strconv.Atoi(frac + strings.Repeat("0", 7-len(frac)))
				if err != nil {
					return 0, bad
				}
				d += time.Duration(f) * 100 * time.Nanosecond
			}
		}
	}
	if neg {
		d = -d
	}
	return d, nil
}
