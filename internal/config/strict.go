package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Known lists every setting the handler reads. Start-up refuses any other PURGE_ name (see LoadOptions).
var Known = []string{EnvPort, EnvSBConnection, EnvSBNamespace, EnvQueue, EnvFailedQueue, EnvCloud, EnvGraphEndpoint, EnvClientID,
	EnvIdentityEndpoint, EnvMaxAttempts, EnvNotFoundGrace, EnvRetryBaseDelay, EnvRetryMaxDelay, EnvInvocationTimeout, EnvVerify,
	EnvAllowedTypes, EnvProtectedIDs, EnvMinDeletedAge, EnvAllowSynced, EnvDryRun, EnvLogLevel, EnvMaxWritesPerSec,
	EnvSweepSchedule, EnvSweepAfter, EnvSweepTimeout, EnvSweepDisabled, EnvSweepDisabledDotted}

// settingPrefix marks the names that belong to entra-purge: every one of them must be known.
const settingPrefix = "PURGE_"

// unknownSetting returns a *SettingError for the first PURGE_ name in environ that is not a setting,
// naming the closest one.
func unknownSetting(environ []string) error {
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(strings.ToUpper(name), settingPrefix) || isKnown(name) {
			continue
		}
		return &SettingError{Name: name, Err: fmt.Errorf("not a setting of entra-purge (did you mean %s?); remove or rename it", closest(name))}
	}
	return nil
}

func isKnown(name string) bool {
	for _, k := range Known {
		if k == name {
			return true
		}
	}
	return false
}

// closest is the known PURGE_ setting nearest to name by edit distance, ignoring letter case.
func closest(name string) string {
	best, bestD := "", -1
	for _, k := range Known {
		if !strings.HasPrefix(k, settingPrefix) {
			continue
		}
		if d := distance(strings.ToUpper(name), k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// connectionString is what start-up needs from a Service Bus connection string; the key stays in it.
type connectionString struct {
	endpoint string // sb://host[:port]
	emulator bool
}

// parseConnectionString checks the parts a Service Bus connection string must have. Its errors name the
// missing or malformed part and never quote a value, which may be the key.
func parseConnectionString(cs string) (connectionString, error) {
	parts := map[string]string{}
	for _, part := range strings.Split(cs, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return connectionString{}, errors.New("not a Service Bus connection string (want Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…)")
		}
		parts[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	var out connectionString
	ep, ok := parts["endpoint"]
	if !ok || ep == "" {
		return out, errors.New("the connection string has no Endpoint (want Endpoint=sb://<namespace>.servicebus.windows.net/;…)")
	}
	u, err := url.Parse(ep)
	if err != nil || u.Scheme != "sb" || u.Hostname() == "" {
		return out, errors.New("the connection string's Endpoint is not an sb:// address (want Endpoint=sb://<namespace>.servicebus.windows.net/)")
	}
	if _, sas := parts["sharedaccesssignature"]; !sas {
		switch {
		case parts["sharedaccesskeyname"] == "":
			return out, errors.New("the connection string has no SharedAccessKeyName (want …;SharedAccessKeyName=<policy>;SharedAccessKey=<key>)")
		case parts["sharedaccesskey"] == "":
			return out, errors.New("the connection string has no SharedAccessKey (want …;SharedAccessKeyName=<policy>;SharedAccessKey=<key>)")
		}
	}
	if v, ok := parts["usedevelopmentemulator"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return out, errors.New("the connection string's UseDevelopmentEmulator must be true or false")
		}
		out.emulator = b
	}
	out.endpoint = "sb://" + u.Host
	return out, nil
}

// validHostName accepts a DNS host name such as contoso.servicebus.windows.net.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
