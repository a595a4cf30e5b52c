package chaos

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/purge"
)

func rngOf(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1)) }

// The seed fixes the plan: the same seed draws the same requests and the same schedule, another seed others.
func TestTheSeedMakesThePlanRepeatable(t *testing.T) {
	plan := func(seed uint64) ([]Request, []Fault) {
		rng := rngOf(seed)
		reqs := planRequests(400, rng)
		faults, err := planFaults(150*time.Second, DefaultMix, rng)
		if err != nil {
			t.Fatal(err)
		}
		return reqs, faults
	}
	r1, f1 := plan(42)
	r2, f2 := plan(42)
	if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(f1, f2) {
		t.Fatal("the same seed drew two different plans")
	}
	r3, f3 := plan(43)
	if reflect.DeepEqual(r1, r3) || reflect.DeepEqual(f1, f3) {
		t.Fatal("two seeds drew the same plan")
	}
}

// The requests are of the four kinds in the stated shares, and each body is what its kind says: invalid
// bodies are refused by the handler's own parser, the others name their object.
func TestRequestsAreWhatTheirKindSays(t *testing.T) {
	reqs := planRequests(1000, rngOf(1))
	count := map[Kind]int{}
	ids := map[string]bool{}
	for _, r := range reqs {
		count[r.Kind]++
		if ids[r.MessageID] {
			t.Fatalf("message id %s twice", r.MessageID)
		}
		ids[r.MessageID] = true
		req, err := purge.ParseRequest([]byte(r.Body))
		switch r.Kind {
		case Invalid:
			if err == nil {
				t.Errorf("invalid body %q parses as a request for %s", r.Body, req.ID)
			}
		default:
			if err != nil || req.ID.String() != r.ObjectID {
				t.Errorf("%s body %q: %v, id %s, want %s", r.Kind, r.Body, err, req.ID, r.ObjectID)
			}
		}
	}
	if want := map[Kind]int{Purgeable: 600, NeverDeleted: 150, Invalid: 125, Protected: 125}; !reflect.DeepEqual(count, want) {
		t.Errorf("kinds %v, want %v", count, want)
	}
}

// The schedule keeps its promises: every fault inside the run, no two faults of a lane at once, no kill in a
// 429 storm or the quiet after it, no kill after a failure copy while the failure queue is out, and the
// number of each fault the mix asks for.
func TestScheduleKeepsFaultsApartWhereTheyMustBe(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		for _, c := range []struct {
			d   time.Duration
			mix Mix
		}{{150 * time.Second, DefaultMix}, {36 * time.Second, ShortMix}} {
			faults, err := planFaults(c.d, c.mix, rngOf(seed))
			if err != nil {
				t.Fatalf("seed %d, %s: %v", seed, c.d, err)
			}
			n := map[FaultKind]int{}
			for i, f := range faults {
				n[f.Kind]++
				if f.At < 2*time.Second || f.At+f.span() > c.d {
					t.Errorf("seed %d: %s at %s outside the run", seed, f.Kind, f.At)
				}
				rest := append(append([]Fault(nil), faults[:i]...), faults[i+1:]...)
				if !fits(f, rest) {
					t.Errorf("seed %d: %s at %s conflicts with another fault", seed, f.Kind, f.At)
				}
			}
			kills := n[Kill] + n[KillAfterFailureCopy] + n[KillAfterRetryCopy] + n[IdentityDown]
			if n[GraphErrors] != c.mix.Bursts || n[GraphHang] != c.mix.Hangs || n[GraphSilent] != c.mix.Silent || kills != c.mix.Kills ||
				n[GraphThrottle] != 1 || n[FailureQueueMissing] != 1 || n[FailureQueueUnreachable] != 1 || n[IdentityDown] != 1 ||
				n[KillAfterFailureCopy] < 1 || n[KillAfterRetryCopy] < 1 || n[KillInStorm] != 1 {
				t.Errorf("seed %d, %s: faults %v for mix %+v", seed, c.d, n, c.mix)
			}
			storm := stormOf(faults)
			for _, f := range faults {
				if f.Kind == KillInStorm && f.At != storm.At+stormKillAfter {
					t.Errorf("seed %d: the kill in the storm is at %s, the storm at %s", seed, f.At, storm.At)
				}
			}
		}
	}
	// Kills may land in the storm: a restarted handler honours the Retry-After its predecessor received.
	storm := Fault{Kind: GraphThrottle, At: 10 * time.Second, For: stormLength}
	for _, k := range []FaultKind{Kill, KillAfterFailureCopy, KillAfterRetryCopy, KillInStorm} {
		if !fits(Fault{Kind: k, At: 12 * time.Second}, []Fault{storm}) {
			t.Errorf("a %s does not fit in a storm", k)
		}
	}
	outage := Fault{Kind: FailureQueueMissing, At: 10 * time.Second, For: outageLength}
	if fits(Fault{Kind: KillAfterFailureCopy, At: 12 * time.Second}, []Fault{outage}) {
		t.Error("a kill after a failure copy fits in a failure-queue outage")
	}
	if _, err := planFaults(10*time.Second, DefaultMix, rngOf(1)); err == nil {
		t.Error("a full mix fits in 10 s")
	}
}

func TestNoGraphOutageDuringTheIdentityOutage(t *testing.T) {
	id := Fault{Kind: IdentityDown, At: 10 * time.Second, For: outageLength}
	for _, k := range []FaultKind{GraphErrors, GraphThrottle, FailureQueueUnreachable, FailureQueueMissing} {
		if fits(Fault{Kind: k, At: 12 * time.Second, For: 4 * time.Second}, []Fault{id}) {
			t.Errorf("a %s fits in the identity outage", k)
		}
	}
	if !fits(Fault{Kind: GraphHang, At: 12 * time.Second}, []Fault{id}) {
		t.Error("a hang does not fit in the identity outage (it waits for the next call)")
	}
}

// An unreachable failure queue holds every invocation slot until its sends' deadline: nothing that needs
// traffic is scheduled then.
func TestNothingThatNeedsTrafficWhileTheFailureQueueIsUnreachable(t *testing.T) {
	cut := Fault{Kind: FailureQueueUnreachable, At: 10 * time.Second, For: outageLength}
	for _, f := range []Fault{
		{Kind: GraphErrors, At: 18 * time.Second, For: 4 * time.Second},
		{Kind: GraphThrottle, At: 12 * time.Second, For: stormLength},
		{Kind: KillAfterRetryCopy, At: 19 * time.Second},
		{Kind: KillAfterFailureCopy, At: 8 * time.Second},
	} {
		if fits(f, []Fault{cut}) {
			t.Errorf("a %s at %s fits next to an unreachable failure queue at 10s", f.Kind, f.At)
		}
	}
	if !fits(Fault{Kind: GraphErrors, At: 10*time.Second + outageLength + slotsHeld, For: 4 * time.Second}, []Fault{cut}) {
		t.Error("a burst once the slots are free does not fit")
	}
}
