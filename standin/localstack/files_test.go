package localstack

import (
	"os"
	"path/filepath"
	"testing"
)

// demoApp returns the module root and a copy of the app root's files the demo needs, with a freshly
// built handler, so the demo runs against the code under test.
func demoApp(t *testing.T) (root, app string) {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	app = t.TempDir()
	if err := BuildHandler(filepath.Join(app, "handler")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"host.json", "local.settings.sample.json", "purge/function.json", "sweep/function.json"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(app, f))
	}
	linkDir(t, filepath.Join(root, "standin"), filepath.Join(app, "standin"))
	return root, app
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func linkDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Symlink(from, to); err != nil {
		t.Fatal(err)
	}
}
