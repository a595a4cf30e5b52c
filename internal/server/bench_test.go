package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entra-purge/entra-purge/internal/directory"
	"github.com/entra-purge/entra-purge/internal/purge/purgetest"
)

// BenchmarkInvocation measures one whole invocation — decode, decide, log, answer — with Graph and Service
// Bus faked in-process: the handler's own cost per message, which must stay far below Graph's latency.
func BenchmarkInvocation(b *testing.B) {
	for _, tc := range []struct {
		name string
		body string
		d    *purgetest.Directory
	}{
		{"purged", gid, dir(user(), nil)},
		{"failed", "not-an-id", dir(directory.DeletedObject{}, nil)},
		{"retry", gid, dir(user(), purgetest.Err(directory.Unavailable, 503, "", 0))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, out, _ := newServer(tc.d, &fakeBus{}, false)
			h := s.Handler()
			inv := invocation(tc.body, "")
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("POST", "/purge", strings.NewReader(inv)))
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
