package funchost

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNetDoubleText(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0", 1: "1", 42.5: "42.5", 0.1: "0.1", 1e14: "100000000000000", 1e15: "1E+15",
		123456789012345680000: "1.2345678901234568E+20", 0.0001: "0.0001", 0.00001: "1E-05",
		-2.5e-7: "-2.5E-07", 1.7976931348623157e308: "1.7976931348623157E+308",
	} {
		if got := netDoubleText(f, 64); got != want {
			t.Errorf("netDoubleText(%g) = %q, want %q", f, got, want)
		}
	}
	if got := string(netJSONDouble(3, 64)); got != "3.0" {
		t.Errorf("netJSONDouble(3) = %s", got)
	}
}

func TestNetQuote(t *testing.T) {
	for in, want := range map[string]string{
		`a"b\c`:              `"a\"b\\c"`,
		"<&>é":               `"<&>é"`,
		"\x01\b\f\n\r\t":     `"\u0001\b\f\n\r\t"`,
		"\u0085\u2028\u2029": `"\u0085\u2028\u2029"`,
		"\x7f":               "\"\x7f\"",
	} {
		if got := string(netQuote(in)); got != want {
			t.Errorf("netQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"00:05:00": 5 * time.Minute, "1.02:03:04": 26*time.Hour + 3*time.Minute + 4*time.Second,
		"00:00:00.5": 500 * time.Millisecond, "-00:00:00.0010000": -time.Millisecond, "-1": -24 * time.Hour,
		"2": 48 * time.Hour, "01:30": 90 * time.Minute,
	} {
		got, err := parseTimeSpan(in)
		if err != nil || got != want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5m", "24:00:00", "00:60:00", "00:00:00.12345678", "a.00:00:00"} {
		if _, err := parseTimeSpan(in); err == nil {
			t.Errorf("parseTimeSpan(%q) succeeded", in)
		}
	}
}

func TestClassifyReply(t *testing.T) {
	js := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for _, c := range []struct {
		name   string
		status int
		header http.Header
		length int64
		body   string
		class  replyClass
		out    Outcome
		logs   []string
	}{
		{"object", 200, js, -1, `{}`, replySuccess, OutcomeSuccess, nil},
		{"logs", 200, js, -1, `{"Logs":["a",1,true,null],"Outputs":{},"ReturnValue":null}`, replySuccess, OutcomeSuccess, []string{"a", "1", "True"}},
		{"case-insensitive names", 201, js, -1, `{"logs":["x"]}`, replySuccess, OutcomeSuccess, []string{"x"}},
		{"text/json", 200, http.Header{"Content-Type": {"text/json"}}, -1, `{}`, replySuccess, OutcomeSuccess, nil},
		{"trailing content ignored", 200, js, -1, `{} trailing`, replySuccess, OutcomeSuccess, nil},
		{"500 ignores body", 500, js, -1, `{"Logs":["x"]}`, replyFailure, OutcomeHTTPStatus, nil},
		{"302", 302, js, -1, `{}`, replyFailure, OutcomeHTTPStatus, nil},
		{"text/plain", 200, http.Header{"Content-Type": {"text/plain"}}, -1, `{}`, replyFailure, OutcomeMediaType, nil},
		{"problem+json", 200, http.Header{"Content-Type": {"application/problem+json"}}, -1, `{}`, replyFailure, OutcomeMediaType, nil},
		{"no content type", 200, http.Header{}, 2, `{}`, replyFailure, OutcomeMediaType, nil},
		{"invalid json", 200, js, -1, `{`, replyFailure, OutcomeInvalidBody, nil},
		{"array", 200, js, -1, `[]`, replyFailure, OutcomeInvalidBody, nil},
		{"string", 200, js, -1, `"ok"`, replyFailure, OutcomeInvalidBody, nil},
		{"logs object", 200, js, -1, `{"Logs":[{}]}`, replyFailure, OutcomeInvalidBody, nil},
		{"logs string", 200, js, -1, `{"Logs":"x"}`, replyFailure, OutcomeInvalidBody, nil},
		{"outputs array", 200, js, -1, `{"Outputs":[]}`, replyFailure, OutcomeInvalidBody, nil},
		{"empty 200", 200, http.Header{}, 0, ``, replyHang, OutcomeHang, nil},
		{"204", 204, http.Header{}, 0, ``, replyHang, OutcomeHang, nil},
		{"empty json", 200, js, 0, ``, replyHang, OutcomeHang, nil},
		{"empty chunked json", 200, js, -1, ``, replyHang, OutcomeHang, nil},
		{"empty chunked octet-stream", 200, http.Header{}, -1, ``, replyFailure, OutcomeMediaType, nil},
		{"null", 200, js, -1, `null`, replyHang, OutcomeHang, nil},
		{"whitespace", 200, js, -1, " \n", replyHang, OutcomeHang, nil},
	} {
		r := classifyReply(c.status, c.header, c.length, []byte(c.body))
		if r.class != c.class || r.outcome != c.out || strings.Join(r.logs, "|") != strings.Join(c.logs, "|") {
			t.Errorf("%s: class %d outcome %s logs %q (%s); want %d %s %q", c.name, r.class, r.outcome, r.logs, r.reason, c.class, c.out, c.logs)
		}
	}
}
