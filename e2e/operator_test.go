package e2e

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/standin/localstack"
)

// Against a namespace nobody listens on, every command that talks to Service Bus says what it is waiting
// for, gives up within its --wait, and exits 3 naming the address and the cause: never 0, never a bare
// "context deadline exceeded".
func TestCommandsAgainstAnUnreachableNamespace(t *testing.T) {
	t.Parallel()
	port := freePort(t) // nobody listens on it
	// Graph and the identity endpoint work; only Service Bus is out of reach.
	s := startStack(t, localstack.Options{})
	settings := map[string]string{}
	for k, v := range s.Settings {
		settings[k] = v
	}
	settings["ServiceBusConnection"] = "Endpoint=sb://127.0.0.1:" + strconv.Itoa(port) + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true"
	address := "sb://127.0.0.1:" + strconv.Itoa(port)
	for _, args := range [][]string{
		{"send", "--wait", "3s", "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"},
		{"failed", "--wait", "3s"},
		{"replay", "--wait", "3s"},
		{"replay", "--wait", "3s", "--output", "json"},
		{"check", "--wait", "3s"},
	} {
		start := time.Now()
		out, code := runHandler(t, settings, args...)
		took := time.Since(start)
		if code != 3 || !strings.Contains(out, address) || !strings.Contains(out, "connection refused") || strings.Contains(out, "context deadline exceeded") {
			t.Errorf("%v: exit %d after %s\n%s", args, code, took, out)
		}
		if took > 15*time.Second {
			t.Errorf("%v took %s, far beyond its --wait of 3s", args, took)
		}
		if strings.Contains(out, "SAS_KEY_VALUE") {
			t.Errorf("%v: the key reached the output", args)
		}
	}
}

// A connection string without UseDevelopmentEmulator=true against the local emulator: the command gives
// up within its --wait, exits 3, and says what is missing.
func TestEmulatorWithoutTheEmulatorFlag(t *testing.T) {
	t.Parallel()
	s := startStack(t, localstack.Options{})
	settings := map[string]string{"ServiceBusConnection": strings.Replace(s.Settings["ServiceBusConnection"], ";UseDevelopmentEmulator=true", "", 1)}
	out, code := runHandler(t, settings, "failed", "--wait", "3s")
	if code != 3 || !strings.Contains(out, "UseDevelopmentEmulator=true") || !strings.Contains(out, "waiting for Service Bus") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// A mistyped PURGE_ setting stops every entry point, naming it and the setting it probably means; so do a
// client id that is not a GUID and a connection string without its key.
func TestSettingsCheckedStrictly(t *testing.T) {
	t.Parallel()
	ns := map[string]string{"ServiceBusConnection__fullyQualifiedNamespace": "contoso.servicebus.windows.net"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range ns {
			m[k] = v
		}
		return m
	}
	for _, tt := range []struct {
		settings map[string]string
		says     []string
	}{
		{with("PURGE_DRYRUN", "true"), []string{"PURGE_DRYRUN", "did you mean PURGE_DRY_RUN?"}},
		{with("PURGE_PROTECTED_ID", "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"), []string{"PURGE_PROTECTED_ID", "did you mean PURGE_PROTECTED_IDS?"}},
		{with("AZURE_CLIENT_ID", "not-a-guid"), []string{"AZURE_CLIENT_ID", "GUID"}},
		{map[string]string{"ServiceBusConnection": "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;UseDevelopmentEmulator=true"},
			[]string{"setting ServiceBusConnection", "no SharedAccessKey"}},
	} {
		for _, args := range [][]string{nil, {"purge", "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"}, {"failed"}, {"check"}} {
			out, code := runHandler(t, tt.settings, args...)
			for _, s := range tt.says {
				if code != 4 || !strings.Contains(out, s) {
					t.Errorf("%v %v: exit %d, want 4 and %q\n%s", tt.settings, args, code, s, out)
					break
				}
			}
		}
	}
}

func TestVersionAndHelpExitCodes(t *testing.T) {
	t.Parallel()
	if out, code := runHandler(t, nil, "--version"); code != 0 || !strings.HasPrefix(out, "entra-purge ") {
		t.Errorf("--version: exit %d %q", code, out)
	}
	if out, code := runHandler(t, nil, "help", "bogus"); code != 2 || !strings.Contains(out, `unknown command "bogus"`) {
		t.Errorf("help bogus: exit %d\n%s", code, out)
	}
}

// make package ships exactly the bytes make build makes: one build, one set of flags, one version.
func TestPackageHoldsTheBuiltHandler(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "app.zip")
	built := filepath.Join(dir, "handler")
	for _, c := range [][]string{{"sh", "infra/scripts/build.sh", built}, {"sh", "infra/scripts/package.sh", zipPath}} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = appRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	want, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var names []string
	for _, f := range z.File {
		names = append(names, f.Name)
		if f.Name != "handler" {
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("the packaged handler (%d bytes) differs from the built one (%d bytes)", len(got), len(want))
		}
		if f.Mode()&0o111 == 0 {
			t.Errorf("the packaged handler is not executable: %v", f.Mode())
		}
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "handler") || !strings.Contains(got, "host.json") || !strings.Contains(got, "purge/function.json") || !strings.Contains(got, "sweep/function.json") {
		t.Errorf("package holds %v", names)
	}
	if len(want) > 12<<20 {
		t.Errorf("the stripped handler is %d bytes", len(want))
	}
}
