package chaos

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/standin/localstack"
)

var handlerBin string

// TestMain builds the real handler once, static as `make build` builds it, so that the short run tests
// this tree's handler, not a stale ./handler.
func TestMain(m *testing.M) {
	bin, remove, err := localstack.BuildTempHandler("entra-purge-chaos-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	handlerBin = bin
	code := m.Run()
	remove()
	os.Exit(code)
}

// The short chaos run of `make test`: a few hundred requests through the real handler under the host
// stand-in while every kind of fault hits once (four kills among them: two after a copy reached Service
// Bus and before the answer, one in the 429 storm), then the ledger. What it asserts does not depend on
// timing: no violation, every scheduled fault hit something, every request of each kind in its one right
// place.
func TestShortChaosRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the short chaos run takes about a minute")
	}
	var progress strings.Builder
	rep, err := Run(context.Background(), Options{Requests: 250, Duration: 36 * time.Second, Seed: 11, Mix: ShortMix,
		Handler: handlerBin, LogDir: t.TempDir(), Progress: &progress, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatalf("the run could not be carried out: %v\n%s", err, progress.String())
	}
	var out strings.Builder
	rep.Print(&out)
	defer func() {
		if t.Failed() {
			t.Logf("progress:\n%s", progress.String())
		}
		t.Logf("report:\n%s", out.String())
	}()
	for _, v := range rep.Ledger.Violations {
		t.Errorf("violation [%s] %s: %s", v.Rule, v.Request, v.Detail)
	}
	for _, s := range rep.Shortfalls {
		t.Errorf("shortfall: %s", s)
	}
	for _, k := range Kinds {
		if rep.Kinds[k] == 0 {
			t.Errorf("no %s request", k)
		}
	}
	if n := rep.Ledger.ByKind[Purgeable][PlacePurged]; n != rep.Kinds[Purgeable] {
		t.Errorf("%d of %d purgeable requests purged", n, rep.Kinds[Purgeable])
	}
	inStorm := 0
	for _, k := range rep.Kills {
		if k.Kind == KillInStorm {
			inStorm++
		}
	}
	if len(rep.Kills) != 4 || rep.KillsAfterCopy != 2 || inStorm != 1 {
		t.Errorf("%d kills, %d after a copy, %d in the 429 storm; want 4, 2 and 1", len(rep.Kills), rep.KillsAfterCopy, inStorm)
	}
	if rep.Hangs != 0 {
		t.Errorf("the handler gave %d answers that hang the host", rep.Hangs)
	}
}
