package purge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/entra-purge/entra-purge/internal/directory"
)

const gid = "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Request
	}{
		{"bare", gid, Request{ID: directory.MustParseObjectID(gid)}},
		{"bare upper with spaces", "  \n" + strings.ToUpper(gid) + "\t\n", Request{ID: directory.MustParseObjectID(gid)}},
		{"quoted", `"` + gid + `"`, Request{ID: directory.MustParseObjectID(gid)}},
		{"bom", "\xef\xbb\xbf" + gid, Request{ID: directory.MustParseObjectID(gid)}},
		{"object", `{"id":"` + gid + `","type":"user","reason":"leaver","requestedBy":"hr-flow","correlationId":"TKT-42","extra":[1,2]}`,
			Request{ID: directory.MustParseObjectID(gid), Type: directory.User, Reason: "leaver", RequestedBy: "hr-flow", CorrelationID: "TKT-42"}},
		{"objectId alias", `{"objectId":"` + strings.ToUpper(gid) + `","type":"#microsoft.graph.servicePrincipal"}`,
			Request{ID: directory.MustParseObjectID(gid), Type: directory.ServicePrincipal}},
		{"both agree", `{"id":"` + gid + `","objectId":"` + strings.ToUpper(gid) + `"}`, Request{ID: directory.MustParseObjectID(gid)}},
		{"double encoded object", `"{\"id\":\"` + gid + `\",\"type\":\"application\"}"`, Request{ID: directory.MustParseObjectID(gid), Type: directory.Application}},
		{"notBefore", `{"id":"` + gid + `","notBefore":"2026-12-01T10:00:00+01:00"}`,
			Request{ID: directory.MustParseObjectID(gid), NotBefore: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}},
		{"null fields", `{"id":"` + gid + `","type":null,"reason":null}`, Request{ID: directory.MustParseObjectID(gid)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRequestRejects(t *testing.T) {
	tests := []struct{ name, body, says string }{
		{"empty", "", "empty"},
		{"blank", "  \n ", "empty"},
		{"path", "../users/" + gid, "not a GUID"},
		{"upn", "alice@contoso.com", "not a GUID"},
		{"array", `["` + gid + `"]`, "one message per object"},
		{"no id", `{"type":"user"}`, `no "id"`},
		{"id number", `{"id":42}`, "must be a string"},
		{"id traversal", `{"id":"` + gid + `/../../users"}`, "not a GUID"},
		{"conflicting ids", `{"id":"` + gid + `","objectId":"11111111-2222-3333-4444-555555555555"}`, "different objects"},
		{"bad type", `{"id":"` + gid + `","type":"users"}`, "unknown directory object type"},
		{"bad notBefore", `{"id":"` + gid + `","notBefore":"tomorrow"}`, "RFC 3339"},
		{"broken json", `{"id":"` + gid, "not valid JSON"},
		{"not utf8", "\xff\xfe" + gid, "UTF-8"},
		{"too big", `{"id":"` + gid + `","reason":"` + strings.Repeat("x", MaxBodySize) + `"}`, "at most"},
		{"nil guid", "00000000-0000-0000-0000-000000000000", "nil GUID"},
		{"quoted garbage", `"hello"`, "not a GUID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body))
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v, want ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
		})
	}
}

// FuzzParseRequest checks that the parser never panics and that whatever it accepts carries a canonical
// GUID: the only text that may reach a Graph URL. Its seed corpus runs in every `make test`.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{gid, `"` + gid + `"`, `{"id":"` + gid + `","type":"user"}`, `{"objectId":"` + gid + `"}`,
		`["` + gid + `"]`, "../users/x", `{"id":"` + gid + `","notBefore":"2026-01-01T00:00:00Z"}`, `"{\"id\":\"` + gid + `\"}"`, "", "{", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error does not wrap ErrInvalidRequest: %v", err)
			}
			return
		}
		again, perr := directory.ParseObjectID(r.ID.String())
		if perr != nil || again != r.ID || strings.ToLower(r.ID.String()) != r.ID.String() {
			t.Fatalf("accepted a non-canonical id %q", r.ID)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	body := []byte(`{"id":"` + gid + `","type":"user","reason":"leaver","requestedBy":"hr-flow","correlationId":"TKT-42"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
