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
