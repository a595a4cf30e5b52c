package sbemu

import (
	"reflect"
	"testing"
	"time"
)

func TestQueueFlagRoundTrip(t *testing.T) {
	want := []Queue{
		{Name: "purge-requests", MaxDeliveryCount: 10, DuplicateDetection: true},
		{Name: "purge-failed", MaxDeliveryCount: 100, LockDuration: 1500 * time.Millisecond},
		{Name: "plain"},
	}
	got, err := parseQueueFlag(queueFlag(want))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseQueueFlag(queueFlag(q)) = %+v, %v; want %+v", got, err, want)
	}
	if got, err := parseQueueFlag(" a:lockDuration=30s , b "); err != nil || len(got) != 2 || got[0].LockDuration != 30*time.Second || got[1].Name != "b" {
		t.Errorf("spaces and Go durations: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "a:ttl=1m", "a:maxDeliveryCount=x", "a,A", "a:lockDuration=soon"} {
		if _, err := parseQueueFlag(bad); err == nil {
			t.Errorf("parseQueueFlag(%q) accepted", bad)
		}
	}
}
