package syncio

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var plain bytes.Buffer
	w := Writer(&plain)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("line\n"))
				_, _ = w.Write([]byte("line\n"))
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "line\n"); n != 800 {
		t.Errorf("buffer holds %d lines", n)
	}
	if n := strings.Count(plain.String(), "line\n"); n != 800 {
		t.Errorf("writer passed %d lines", n)
	}
}

func TestLinesJoinsSplitWritesAndKeepsTheUnfinishedTail(t *testing.T) {
	var got []string
	w := Lines(func(line []byte) { got = append(got, string(line)) })
	for _, chunk := range []string{`{"a":`, "1}\n{\"b\"", ":2}\n\n", "tail"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	want := []string{`{"a":1}`, `{"b":2}`, ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q (and the unfinished %q held back)", got, want, "tail")
	}
	_, _ = w.Write([]byte("\n"))
	if got[len(got)-1] != "tail" {
		t.Fatalf("the held-back tail was not emitted once finished: %q", got)
	}
}

func TestLinesFromConcurrentWritersArriveWhole(t *testing.T) {
	var mu sync.Mutex
	counts := map[string]int{}
	w := Lines(func(line []byte) { mu.Lock(); counts[string(line)]++; mu.Unlock() })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = w.Write([]byte("one whole line\n"))
			}
		})
	}
	wg.Wait()
	if len(counts) != 1 || counts["one whole line"] != 800 {
		t.Fatalf("lines seen: %v", counts)
	}
}
