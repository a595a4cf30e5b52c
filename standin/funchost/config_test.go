package funchost

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const minimalHost = `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}}}`

func TestLoadTheRepositoryApp(t *testing.T) {
	root, _ := filepath.Abs("../..")
	app, err := loadApp(root, nil, nil)
	if err != nil {
		t.Fatalf("the stand-in cannot load the app it exists for: %v", err)
	}
	if len(app.functions) != 2 || app.functions[0].Name != "purge" || app.functions[1].Name != "sweep" {
		t.Fatalf("functions = %+v", app.functions)
	}
	// The sample settings disable the sweep, the Functions way; its schedule still resolves.
	if sw := app.functions[1]; sw.Timer == nil || !sw.Disabled || app.functions[0].Disabled || sw.Timer.Schedule.String() != app.settings["PURGE_SWEEP_SCHEDULE"] {
		t.Errorf("sweep = %+v", sw)
	}
	tr := app.functions[0].Trigger
	if tr.QueueName == "" || strings.Contains(tr.QueueName, "%") || tr.QueueName != app.settings["PURGE_QUEUE_NAME"] {
		t.Errorf("trigger = %+v", tr)
	}
	if app.host.ExecutablePath != filepath.Join(root, "handler") && app.host.ExecutablePath != "handler" {
		t.Errorf("executable = %s", app.host.ExecutablePath)
	}
}

func TestLoadAppHostJSON(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "fn", "function.json"), `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","connection":"C","dataType":"binary"}]}`)
	for _, c := range []struct {
		host  string
		check func(t *testing.T, hc HostConfig)
		err   string
	}{
		{host: minimalHost, check: func(t *testing.T, hc HostConfig) {
			if hc.FunctionTimeout != 30*time.Minute || hc.MaxConcurrentCalls != 16*runtime.NumCPU() || hc.MaxAutoLockRenewalDuration != 5*time.Minute ||
				hc.InitializationTimeout != 30*time.Second || hc.WorkingDirectory != root {
				t.Errorf("defaults = %+v", hc)
			}
		}},
		{host: `{"version":"2.0","functionTimeout":"-1","customHandler":{"description":{"defaultExecutablePath":"h","workingDirectory":"sub","arguments":["a","z"]},"initializationTimeout":"00:00:05"},
			"extensions":{"serviceBus":{"maxConcurrentCalls":"8","maxAutoLockRenewalDuration":"-00:00:00.0010000","autoCompleteMessages":true}}}`,
			check: func(t *testing.T, hc HostConfig) {
				if hc.FunctionTimeout != 0 || hc.MaxConcurrentCalls != 8 || hc.MaxAutoLockRenewalDuration >= 0 ||
					hc.InitializationTimeout != 5*time.Second || hc.WorkingDirectory != filepath.Join(root, "sub") {
					t.Errorf("config = %+v", hc)
				}
				if strings.Join(hc.Arguments, " ") != "a z" {
					t.Errorf("arguments = %q", hc.Arguments)
				}
			}},
		{host: `{"customHandler":{"description":{"defaultExecutablePath":"h"}}}`, err: "'version'"},
		{host: `{"version":"2.0"}`, err: "Missing worker Description"},
		{host: `{"version":"2.0","customHandler":{"description":{}}}`, err: "defaultExecutablePath"},
		{host: `{"version":"2.0","functionTimeout":"00:00:00.5","customHandler":{"description":{"defaultExecutablePath":"h"}}}`, err: "at least 00:00:01"},
		{host: `{"version":"2.0","functionTimeout":"5m","customHandler":{"description":{"defaultExecutablePath":"h"}}}`, err: "TimeSpan"},
		{host: `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"serviceBus":{"maxConcurrentCalls":0}}}`, err: "at least 1"},
		{host: `{"version":"2.0","retry":{"strategy":"fixedDelay","maxRetryCount":2,"delayInterval":"00:00:03"},"customHandler":{"description":{"defaultExecutablePath":"h"}}}`, err: `"retry"`},
		{host: `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"serviceBus":{"autoCompleteMessages":false}}}`, err: "autoCompleteMessages false"},
		{host: `{"version":"2.0","httpWorker":{"description":{"defaultExecutablePath":"h"}}}`, err: "Missing worker Description"},
	} {
		writeFile(t, filepath.Join(root, "host.json"), c.host)
		app, err := loadApp(root, nil, nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("host.json %s: err = %v, want %q", c.host, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("host.json %s: %v", c.host, err)
			continue
		}
		c.check(t, app.host)
	}
}

func TestLoadAppFunctions(t *testing.T) {
	for _, c := range []struct {
		name, fn, err string
		check         func(t *testing.T, f *Function)
	}{
		{name: "resolved", fn: `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"%Q%-x","connection":"Conn","dataType":"Binary","autoCompleteMessages":"true"}]}`,
			check: func(t *testing.T, f *Function) {
				if f.Trigger.QueueName != "orders-x" || f.Trigger.Connection != "Conn" || f.Name != "fn" {
					t.Errorf("function = %+v", f)
				}
			}},
		{name: "unresolved", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"%MISSING%"}]}`, err: "'%MISSING%' does not resolve to a value"},
		{name: "many", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","connection":"C","dataType":"binary","cardinality":"many"}]}`, err: `cardinality "many"`},
		{name: "stream", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","connection":"C","dataType":"stream"}]}`, err: `"stream"`},
		{name: "string", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","connection":"C","dataType":"string"}]}`, err: `dataType "string" is not supported`},
		{name: "no dataType", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","connection":"C"}]}`, err: `dataType "" is not supported`},
		{name: "sessions", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","connection":"C","dataType":"binary","isSessionsEnabled":true}]}`, err: "isSessionsEnabled"},
		{name: "http", fn: `{"bindings":[{"type":"httpTrigger","name":"req"}]}`, err: `"httpTrigger" is not supported`},
		{name: "no entity", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","connection":"C","dataType":"binary"}]}`, err: "queueName"},
		{name: "topic", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","topicName":"t","subscriptionName":"s","connection":"C","dataType":"binary"}]}`, err: "topic subscriptions are not supported"},
		{name: "no connection", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","dataType":"binary"}]}`, err: "connection is required"},
		{name: "manual settlement", fn: `{"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q","connection":"C","dataType":"binary","autoCompleteMessages":false}]}`, err: "autoCompleteMessages false"},
		{name: "no name", fn: `{"bindings":[{"type":"serviceBusTrigger","queueName":"q"}]}`, err: "name is required"},
		{name: "retry", fn: `{"retry":{"strategy":"fixedDelay","maxRetryCount":1},"bindings":[{"type":"serviceBusTrigger","name":"m","queueName":"q"}]}`, err: `"retry"`},
		{name: "out", fn: `{"bindings":[{"type":"serviceBusTrigger","direction":"out","name":"m","queueName":"q"}]}`, err: `direction "in"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "host.json"), minimalHost)
			writeFile(t, filepath.Join(root, "fn", "function.json"), c.fn)
			writeFile(t, filepath.Join(root, "bin", "notes.txt"), "a folder without function.json is not a function")
			app, err := loadApp(root, map[string]string{"Q": "orders"}, nil)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(app.functions) != 1 {
				t.Fatalf("%d functions", len(app.functions))
			}
			c.check(t, app.functions[0])
		})
	}
}

func TestLoadSettingsPrecedence(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "local.settings.sample.json"), `{"Values":{"A":"sample"}}`)
	s, src, _, err := loadSettings(root, nil, nil)
	if err != nil || s["A"] != "sample" || filepath.Base(src) != "local.settings.sample.json" {
		t.Fatalf("sample: %v %s %v", s, src, err)
	}
	writeFile(t, filepath.Join(root, "local.settings.json"), `{"IsEncrypted":false,"Values":{"A":"local","B":"local","C":"local","D":"local"}}`)
	s, src, skipped, err := loadSettings(root, map[string]string{"C": "override", "E": "override"}, []string{"B=env", "C=env", "D="})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "local", "B": "env", "C": "override", "D": "local", "E": "override"}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s = %q, want %q", k, s[k], v)
		}
	}
	if filepath.Base(src) != "local.settings.json" || strings.Join(skipped, ",") != "B,C" {
		t.Errorf("source %s, skipped %v", src, skipped)
	}
	writeFile(t, filepath.Join(root, "local.settings.json"), `{"IsEncrypted":true,"Values":{}}`)
	if _, _, _, err := loadSettings(root, nil, nil); err == nil {
		t.Error("encrypted settings accepted")
	}
	writeFile(t, filepath.Join(root, "local.settings.json"), `{"Values":{"N":5}}`)
	if _, _, _, err := loadSettings(root, nil, nil); err == nil || !strings.Contains(err.Error(), "Values.N") {
		t.Errorf("a non-string value: %v", err)
	}
}

func TestConnectionResolution(t *testing.T) {
	cs := "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=secret;UseDevelopmentEmulator=true"
	_, info, err := newServiceBusClient("ServiceBusConnection", map[string]string{"ServiceBusConnection": cs})
	if err != nil || info.FullyQualifiedNamespace != "127.0.0.1" || !strings.HasPrefix(info.Identifier, "127.0.0.1-") {
		t.Errorf("connection string: %+v %v", info, err)
	}
	_, _, err = newServiceBusClient("ServiceBusConnection", map[string]string{"ServiceBusConnection": "",
		"ServiceBusConnection__fullyQualifiedNamespace": "contoso.servicebus.windows.net"})
	if err == nil || !strings.Contains(err.Error(), "__fullyQualifiedNamespace") {
		t.Errorf("a namespace instead of a connection string: %v", err)
	}
	_, _, err = newServiceBusClient("C", map[string]string{"C": "SharedAccessKey=secret"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a bad connection string must fail without leaking the key: %v", err)
	}
}
