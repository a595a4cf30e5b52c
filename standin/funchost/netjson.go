package funchost

// The real host serializes the invocation request with Newtonsoft.Json (through
// System.Net.Http.Formatting's JsonMediaTypeFormatter). Go's encoding/json produces
// the same JSON values but not always the same bytes: it escapes <, > and &, writes
// floats differently and knows nothing of .NET's DateTime text forms. The helpers in
// this file reproduce Newtonsoft's defaults so the stand-in's requests, and the
// golden files that document them, match what a handler receives in Azure byte for
// byte wherever the reference pins the behaviour down.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// netQuote encodes s as a JSON string the way Newtonsoft's default
// StringEscapeHandling does: only '"', '\\', control characters and the three
// JavaScript line terminators U+0085, U+2028 and U+2029 are escaped; HTML
// characters and other non-ASCII text are written as they are.
func netQuote(s string) []byte {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for _, r := range s { // invalid UTF-8 reads as U+FFFD, as a .NET string would hold it
		switch r {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case 0x85, 0x2028, 0x2029:
			b = append(b, `\u`...)
			b = append(b, hex4(r)...)
		default:
			if r < 0x20 {
				b = append(b, `\u`...)
				b = append(b, hex4(r)...)
				continue
			}
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// hex4 is the four lower-case hex digits Newtonsoft writes after \u.
func hex4(r rune) string {
	s := strconv.FormatInt(int64(r), 16)
	return strings.Repeat("0", 4-len(s)) + s
}

// doubleEncode is what the host does to every string value it puts into Data or
// Metadata: JsonConvert.SerializeObject(s) yields JSON text, and the formatter then
// encodes that text as a JSON string again.
func doubleEncode(s string) []byte { return netQuote(string(netQuote(s))) }

// netDoubleText formats f as .NET Core 3.0+ double.ToString("R", Invariant) does:
// the shortest round-trip digits, in fixed notation unless the decimal exponent is
// 15 or more or below -5, then as d.dddE+XX with at least two exponent digits.
func netDoubleText(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, bits) // [-]d[.ddd]e±XX
	neg := strings.HasPrefix(e, "-")
	e = strings.TrimPrefix(e, "-")
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	scale := exp + 1 // position of the decimal point relative to the digits
	var out string
	if scale > 15 || scale < -3 {
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		x := strconv.Itoa(exp)
		if len(x) < 2 {
			x = "0" + x
		}
		out += "E" + sign + x
	} else if scale <= 0 {
		out = "0." + strings.Repeat("0", -scale) + digits
	} else if scale >= len(digits) {
		out = digits + strings.Repeat("0", scale-len(digits))
	} else {
		out = digits[:scale] + "." + digits[scale:]
	}
	if neg {
		out = "-" + out
	}
	return out
}

// netJSONDouble is how Newtonsoft writes a double: the .NET text with ".0" added
// when it has neither a decimal point nor an exponent, and NaN/Infinity as strings
// (FloatFormatHandling.String, the default).
func netJSONDouble(f float64, bits int) []byte {
	t := netDoubleText(f, bits)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return netQuote(t)
	}
	if !strings.ContainsAny(t, ".E") {
		t += ".0"
	}
	return []byte(t)
}

// Layouts of the DateTime text forms that reach a handler.
const (
	// netDateTimeUnspecified is a DateTime of Kind Unspecified after the host's
	// DateTime.Parse(value.ToString()) round trip: second precision, no zone.
	netDateTimeUnspecified = "2006-01-02T15:04:05"
	// netDateTimeOffset is the same round trip for a DateTimeOffset.
	netDateTimeOffset = "2006-01-02T15:04:05-07:00"
	// netInvariantGeneral is DateTime.ToString(CultureInfo.InvariantCulture).
	netInvariantGeneral = "01/02/2006 15:04:05"
)

// netMaxDateTime is DateTimeOffset.MaxValue, what Service Bus reports as ExpiresAt
// for a message that never expires.
var netMaxDateTime = time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)

// netDateKind is a .NET DateTime's Kind, which decides how Newtonsoft writes it.
type netDateKind int

const (
	kindUnspecified netDateKind = iota
	kindUTC
	// kindLocal is a time converted to the host's local zone. Azure runs the host
	// in UTC, so local times are written with "+00:00".
	kindLocal
)

// netJSONDateTime writes a DateTime as Newtonsoft's IsoDateFormat does:
// yyyy-MM-ddTHH:mm:ss.FFFFFFFK (fraction trimmed of trailing zeros, K = "Z" for
// UTC, the offset for Local, nothing for Unspecified).
func netJSONDateTime(t time.Time, kind netDateKind) []byte {
	t = t.UTC().Truncate(100 * time.Nanosecond) // .NET ticks are 100 ns
	s := t.Format("2006-01-02T15:04:05.9999999")
	switch kind {
	case kindUTC:
		s += "Z"
	case kindLocal:
		s += "+00:00"
	}
	return netQuote(s)
}

// parseNewtonsoftDate recognises the strings Newtonsoft's JsonTextReader turns
// into DateTime values under its default DateParseHandling.DateTime: ISO 8601
// "yyyy-MM-ddTHH:mm:ss", an optional fraction of up to seven digits, an optional
// zone (Z, ±HH, ±HHmm or ±HH:mm) and trailing white space. A zone offset makes a
// Local DateTime (converted to the host's zone), "Z" a UTC one, none Unspecified.
// The "\/Date(ms)\/" form is not recognised: JSON message bodies do not use it.
func parseNewtonsoftDate(s string) (time.Time, netDateKind, bool) {
	if len(s) < 19 || len(s) > 40 || s[0] < '0' || s[0] > '9' || s[10] != 'T' {
		return time.Time{}, 0, false
	}
	num := func(from, n int) (int, bool) {
		if from+n > len(s) {
			return 0, false
		}
		v := 0
		for i := from; i < from+n; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			v = v*10 + int(s[i]-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	if year < 1 || month < 1 || month > 12 || hour > 23 || minute > 59 || sec > 59 ||
		day < 1 || day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, 0, false
	}
	i := 19
	nanos := 0
	if i < len(s) && s[i] == '.' {
		i++
		n := 0
		for i < len(s) && n < 7 && s[i] >= '0' && s[i] <= '9' {
			nanos = nanos*10 + int(s[i]-'0')
			i++
			n++
		}
		if n == 0 {
			return time.Time{}, 0, false
		}
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC)
	kind := kindUnspecified
	if i < len(s) {
		switch s[i] {
		case 'Z', 'z':
			kind = kindUTC
			i++
		case '+', '-':
			sign := 1
			if s[i] == '-' {
				sign = -1
			}
			i++
			zh, ok := num(i, 2)
			if !ok || zh > 99 {
				return time.Time{}, 0, false
			}
			i += 2
			zm := 0
			if i < len(s) && s[i] == ':' {
				i++
			}
			if i+2 <= len(s) && s[i] >= '0' && s[i] <= '9' {
				if zm, ok = num(i, 2); !ok {
					return time.Time{}, 0, false
				}
				i += 2
			}
			t = t.Add(-time.Duration(sign) * (time.Duration(zh)*time.Hour + time.Duration(zm)*time.Minute))
			kind = kindLocal
		}
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	if i != len(s) {
		return time.Time{}, 0, false
	}
	return t, kind, true
}

// netInteger normalises a JSON integer literal the way Newtonsoft reads it into a
// long or, when it does not fit, a BigInteger, and writes it back.
func netInteger(lit string) string {
	if v, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return strconv.FormatInt(v, 10)
	}
	var b big.Int
	if _, ok := b.SetString(lit, 10); ok {
		return b.String()
	}
	return lit
}

// isIntegerLiteral reports whether a JSON number has neither fraction nor
// exponent; Newtonsoft reads those as integers and everything else as double.
func isIntegerLiteral(lit string) bool { return !strings.ContainsAny(lit, ".eE") }

// decodeUTF8Lossy converts bytes that are not valid UTF-8 as .NET's
// Encoding.UTF8.GetString does: every maximal ill-formed subsequence becomes one
// U+FFFD (Unicode's "best practice", which .NET follows and Go's range loop does
// not: Go yields one U+FFFD per byte of a truncated sequence).
func decodeUTF8Lossy(p []byte) string {
	if utf8.Valid(p) {
		return string(p)
	}
	var sb strings.Builder
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError || size > 1 {
			sb.WriteRune(r)
			i += size
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(p[i:])
	}
	return sb.String()
}

// maximalSubpart is the length of the longest prefix of p that starts a
// well-formed UTF-8 sequence (Unicode Table 3-7) without completing it; at least 1.
func maximalSubpart(p []byte) int {
	b0 := p[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	switch {
	case b0 >= 0xC2 && b0 <= 0xDF:
		need = 1
	case b0 == 0xE0:
		need, lo = 2, 0xA0
	case b0 >= 0xE1 && b0 <= 0xEC, b0 == 0xEE, b0 == 0xEF:
		need = 2
	case b0 == 0xED:
		need, hi = 2, 0x9F
	case b0 == 0xF0:
		need, lo = 3, 0x90
	case b0 >= 0xF1 && b0 <= 0xF3:
		need = 3
	case b0 == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(p); k++ {
		c := p[n]
		if k == 0 && (c < lo || c > hi) || k > 0 && (c < 0x80 || c > 0xBF) {
			break
		}
		n++
	}
	return n
}

// jnode is a parsed JSON value that keeps object member order, which Newtonsoft's
// JObject preserves and encoding/json's maps lose.
type jnode struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	text  string
	b     bool
	keys  []string
	vals  []*jnode
	elems []*jnode
}

// parseJObject parses text as JObject.Parse does: exactly one JSON object and
// nothing after it. A duplicate member name replaces the earlier value in place
// (DuplicatePropertyNameHandling.Replace). Newtonsoft also accepts comments,
// single quotes and unquoted names; such bodies are not JSON and get no
// injection here.
func parseJObject(text string) (*jnode, bool) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	n, err := readNode(dec)
	if err != nil || n.kind != 'o' {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return n, true
}

func readNode(dec *json.Decoder) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &jnode{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				val, err := readNode(dec)
				if err != nil {
					return nil, err
				}
				if i := slices.Index(n.keys, key); i >= 0 {
					n.vals[i] = val
					continue
				}
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, val)
			}
			_, err := dec.Token()
			return n, err
		case '[':
			n := &jnode{kind: 'a'}
			for dec.More() {
				e, err := readNode(dec)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, e)
			}
			_, err := dec.Token()
			return n, err
		}
		return nil, fmt.Errorf("unexpected delimiter %v", v)
	case string:
		return &jnode{kind: 's', text: v}, nil
	case json.Number:
		return &jnode{kind: 'n', text: v.String()}, nil
	case bool:
		return &jnode{kind: 'b', b: v}, nil
	case nil:
		return &jnode{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// appendNewtonsoft writes n as Newtonsoft writes a JToken it parsed itself:
// compact, numbers re-rendered from long/BigInteger/double, and date-like strings
// re-rendered from the DateTime they were parsed into.
func appendNewtonsoft(b []byte, n *jnode) []byte {
	switch n.kind {
	case 'o':
		b = append(b, '{')
		for i, k := range n.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, netQuote(k)...)
			b = append(b, ':')
			b = appendNewtonsoft(b, n.vals[i])
		}
		return append(b, '}')
	case 'a':
		b = append(b, '[')
		for i, e := range n.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNewtonsoft(b, e)
		}
		return append(b, ']')
	case 's':
		if t, kind, ok := parseNewtonsoftDate(n.text); ok {
			return append(b, netJSONDateTime(t, kind)...)
		}
		return append(b, netQuote(n.text)...)
	case 'n':
		if isIntegerLiteral(n.text) {
			return append(b, netInteger(n.text)...)
		}
		f, _ := strconv.ParseFloat(n.text, 64) // overflow gives ±Inf, as .NET Core's double.Parse does
		return append(b, netJSONDouble(f, 64)...)
	case 'b':
		if n.b {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	return append(b, "null"...)
}

// netStringCast is (string)JToken for a scalar: Convert.ToString(value,
// InvariantCulture) of what Newtonsoft parsed. ok is false for null.
func netStringCast(n *jnode) (string, bool) {
	switch n.kind {
	case 's':
		if t, _, ok := parseNewtonsoftDate(n.text); ok {
			return t.Format(netInvariantGeneral), true
		}
		return n.text, true
	case 'n':
		if isIntegerLiteral(n.text) {
			return netInteger(n.text), true
		}
		f, _ := strconv.ParseFloat(n.text, 64)
		return netDoubleText(f, 64), true
	case 'b':
		if n.b {
			return "True", true
		}
		return "False", true
	}
	return "", false
}
