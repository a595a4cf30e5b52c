package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func base() map[string]string {
	return map[string]string{EnvSBNamespace: "contoso.servicebus.windows.net"}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(base()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Queue != "purge-requests" || c.FailedQueue != "purge-failed" || c.MaxAttempts != 8 ||
		c.NotFoundGrace != 15*time.Minute || c.RetryBaseDelay != 30*time.Second || c.RetryMaxDelay != 15*time.Minute ||
		!c.Verify || c.AllowSynced || c.DryRun || c.MinDeletedAge != 0 || c.GraphEndpoint != "https://graph.microsoft.com" ||
		c.GraphScope != "https://graph.microsoft.com/.default" || len(c.AllowedTypes) != 3 || c.ManagedIdentity {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestLoadValues(t *testing.T) {
	kv := base()
	kv[EnvCloud] = "azureusgovernmentdod"
	kv[EnvProtectedIDs] = " 8F3C1A2B-4D5E-4F60-8A7B-9C0D1E2F3A4B , 11111111-2222-3333-4444-555555555555,"
	kv[EnvMinDeletedAge] = "7d"
	kv[EnvAllowedTypes] = "user, group"
	kv["IDENTITY_ENDPOINT"] = "http://127.0.0.1:1/msi"
	c, err := Load(env(kv), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cloud.Name != "AzureUSGovernmentDoD" || c.GraphScope != "https://dod-graph.microsoft.us/.default" {
		t.Errorf("cloud = %+v scope %s", c.Cloud, c.GraphScope)
	}
	if len(c.ProtectedIDs) != 2 || c.ProtectedIDs[0].String() != "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b" {
		t.Errorf("protected = %v", c.ProtectedIDs)
	}
	if c.MinDeletedAge != 7*24*time.Hour || len(c.AllowedTypes) != 2 || !c.ManagedIdentity {
		t.Errorf("got %+v", c)
	}
}

func TestGraphEndpointOverride(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:7081":                "http://127.0.0.1:7081",
		"http://localhost:7081/v1.0/":          "http://localhost:7081",
		"https://graph-proxy.contoso.com/":     "https://graph-proxy.contoso.com",
		"https://proxy.contoso.com/graph/v1.0": "https://proxy.contoso.com/graph",
	} {
		kv := base()
		kv[EnvGraphEndpoint] = in
		c, err := Load(env(kv), nil)
		if err != nil || c.GraphEndpoint != want || c.GraphScope != want+"/.default" {
			t.Errorf("%s: got %v %v", in, c, err)
		}
	}
}

func TestLoadErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		set     map[string]string
		setting string
	}{
		{map[string]string{EnvSBNamespace: ""}, EnvSBNamespace},
		{map[string]string{EnvMaxAttempts: "zero"}, EnvMaxAttempts},
		{map[string]string{EnvMaxAttempts: "0"}, EnvMaxAttempts},
		{map[string]string{EnvNotFoundGrace: "15 minutes"}, EnvNotFoundGrace},
		{map[string]string{EnvRetryBaseDelay: "1m", EnvRetryMaxDelay: "30s"}, EnvRetryMaxDelay},
		{map[string]string{EnvCloud: "Mars"}, EnvCloud},
		{map[string]string{EnvGraphEndpoint: "http://graph.example.com"}, EnvGraphEndpoint},
		{map[string]string{EnvGraphEndpoint: "graph.microsoft.com"}, EnvGraphEndpoint},
		{map[string]string{EnvAllowedTypes: "user,users"}, EnvAllowedTypes},
		{map[string]string{EnvAllowedTypes: "administrativeUnit"}, EnvAllowedTypes},
		{map[string]string{EnvAllowedTypes: " , "}, EnvAllowedTypes},
		{map[string]string{EnvProtectedIDs: "alice@contoso.com"}, EnvProtectedIDs},
		{map[string]string{EnvVerify: "no"}, EnvVerify},
		{map[string]string{EnvVerify: "false"}, EnvVerify},
		{map[string]string{EnvVerify: "false", EnvAllowSynced: "true", EnvMinDeletedAge: "1h"}, EnvVerify},
		{map[string]string{EnvDryRun: "maybe"}, EnvDryRun},
		{map[string]string{EnvLogLevel: "loud"}, EnvLogLevel},
		{map[string]string{EnvLogLevel: "disabled"}, EnvLogLevel},
		{map[string]string{EnvLogLevel: "panic"}, EnvLogLevel},
		{map[string]string{EnvQueue: "purge/requests"}, EnvQueue},
		{map[string]string{EnvFailedQueue: "PURGE-REQUESTS"}, EnvFailedQueue},
		{map[string]string{EnvPort: "70000"}, EnvPort},
		{map[string]string{EnvSBConnection: "garbage"}, EnvSBConnection},
	}
	for _, tt := range tests {
		kv := base()
		for k, v := range tt.set {
			kv[k] = v
		}
		_, err := Load(env(kv), nil)
		var se *SettingError
		if !errors.As(err, &se) || se.Name != tt.setting {
			t.Errorf("%v: error %v, want a SettingError for %s", tt.set, err, tt.setting)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tt.setting) {
			t.Errorf("error is not one line naming the setting: %q", err)
		}
	}
}

func TestConnectionStringNeverEchoed(t *testing.T) {
	kv := map[string]string{EnvSBConnection: "SharedAccessKey=supersecret;Endpoint=http://x"}
	_, err := Load(env(kv), nil)
	if err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Fatalf("error %v", err)
	}
	kv[EnvSBConnection] = "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=supersecret;UseDevelopmentEmulator=true"
	c, err := Load(env(kv), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.Fields() {
		if s, ok := v.(string); ok && strings.Contains(s, "supersecret") {
			t.Errorf("field %s leaks the key: %s", k, s)
		}
	}
}

// A PURGE_ name that is not a setting stops start-up, naming it and the closest setting: a typo must never
// leave a guard silently off.
func TestUnknownSettingNamed(t *testing.T) {
	for name, suggestion := range map[string]string{
		"PURGE_DRYRUN": EnvDryRun, "PURGE_PROTECTED_ID": EnvProtectedIDs, "purge_verify": EnvVerify, "PURGE_MAXATTEMPTS": EnvMaxAttempts,
	} {
		environ := []string{"PATH=/bin", EnvSBNamespace + "=contoso.servicebus.windows.net", name + "=true"}
		_, err := Load(env(base()), &LoadOptions{Environ: environ})
		var se *SettingError
		if !errors.As(err, &se) || se.Name != name || !strings.Contains(err.Error(), "did you mean "+suggestion+"?") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
	environ := []string{EnvDryRun + "=true", EnvSBNamespace + "=x", "OTHER_PURGE_THING=1", "AzureWebJobsStorage=x"}
	if _, err := Load(env(base()), &LoadOptions{Environ: environ}); err != nil {
		t.Errorf("known settings refused: %v", err)
	}
}

func TestClientIDMustBeAGUID(t *testing.T) {
	for id, ok := range map[string]bool{"not-a-guid": false, "8F3C1A2B-4D5E-4F60-8A7B-9C0D1E2F3A4B": true, "{8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b}": false, "": true} {
		kv := base()
		kv[EnvClientID] = id
		_, err := Load(env(kv), nil)
		var se *SettingError
		if ok != (err == nil) || (!ok && (!errors.As(err, &se) || se.Name != EnvClientID)) {
			t.Errorf("%q: %v", id, err)
		}
	}
}

// Connection-string errors name ServiceBusConnection and the missing part, never the value.
func TestConnectionStringParts(t *testing.T) {
	for cs, says := range map[string]string{
		"Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;UseDevelopmentEmulator=true":                                    "no SharedAccessKey",
		"Endpoint=sb://127.0.0.1:5672;SharedAccessKey=secret-1":                                                             "no SharedAccessKeyName",
		"SharedAccessKeyName=k;SharedAccessKey=secret-1":                                                                    "no Endpoint",
		"Endpoint=https://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=secret-1":                         "not an sb:// address",
		"Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=secret-1;UseDevelopmentEmulator=yes": "UseDevelopmentEmulator",
		"just-a-key-secret-1": "not a Service Bus connection string",
	} {
		_, err := Load(env(map[string]string{EnvSBConnection: cs}), nil)
		var se *SettingError
		if !errors.As(err, &se) || se.Name != EnvSBConnection || !strings.Contains(err.Error(), says) || strings.Contains(err.Error(), "secret-1") {
			t.Errorf("%q: %v", cs, err)
		}
	}
	c, err := Load(env(map[string]string{EnvSBConnection: "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig=y"}), nil)
	if err != nil || c.ServiceBusAddress() != "contoso.servicebus.windows.net:5671" || c.SBEmulator {
		t.Errorf("SAS connection string: %v %q", err, c.ServiceBusAddress())
	}
	c, err = Load(env(map[string]string{EnvSBConnection: "Endpoint=sb://localhost;SharedAccessKeyName=k;SharedAccessKey=s;UseDevelopmentEmulator=true"}), nil)
	if err != nil || c.ServiceBusAddress() != "localhost:5672" || !c.SBEmulator || c.SBEndpoint != "sb://localhost" {
		t.Errorf("emulator: %v %+v", err, c)
	}
}

// handler purge needs no Service Bus setting; everything else does.
func TestServiceBusOptional(t *testing.T) {
	c, err := Load(env(map[string]string{}), &LoadOptions{ServiceBusOptional: true})
	if err != nil || c.ServiceBusAddress() != "" || c.Fields()["serviceBus"] != "not set" {
		t.Errorf("optional: %v %v", err, c)
	}
	if _, err := Load(env(map[string]string{EnvSBNamespace: "bad/name"}), &LoadOptions{ServiceBusOptional: true}); err == nil {
		t.Error("a given Service Bus setting must still be checked")
	}
}
