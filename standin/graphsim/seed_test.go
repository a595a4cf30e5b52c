package graphsim

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSeedDeletedAgoInWholeDays(t *testing.T) {
	objs, err := ParseSeed(strings.NewReader(`[
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","deletedAgo":"2d"},
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e02","type":"user","deletedAgo":"0d"},
	 {"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e03","type":"user","deletedAgo":"36h"}
	]`), t0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Time{t0.Add(-48 * time.Hour), t0, t0.Add(-36 * time.Hour)} {
		if !objs[i].DeletedAt.Equal(want) {
			t.Errorf("object %d deleted at %s, want %s", i, objs[i].DeletedAt, want)
		}
	}
	for _, bad := range []string{"d", "-1d", "1.5d", "2 d", "2days"} {
		seed := `[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","deletedAgo":"` + bad + `"}]`
		if _, err := ParseSeed(strings.NewReader(seed), t0); err == nil || !strings.Contains(err.Error(), "deletedAgo") {
			t.Errorf("deletedAgo %q: %v", bad, err)
		}
	}
}

// TestShippedSeed keeps standin/seed.json, the example of the README's "by hand" instructions, loadable.
func TestShippedSeed(t *testing.T) {
	f, err := os.Open("../seed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := ParseSeed(f, t0)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, o := range objs {
		types[o.Type]++
		if o.DeletedAt.IsZero() || o.DeletedAt.After(t0) || t0.Sub(o.DeletedAt) > 30*24*time.Hour {
			t.Errorf("%s (%s) is not in the recycle bin: deleted at %s", o.ID, o.DisplayName, o.DeletedAt)
		}
	}
	if types["user"] < 2 || types["application"] < 1 || types["group"] != 1 {
		t.Errorf("seed holds %v; want a few users, an application and one group", types)
	}
	e := newEnv(t, Options{})
	e.sim.Add(objs...)
}
