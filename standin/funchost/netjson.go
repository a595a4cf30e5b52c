package funchost

// The real host serializes the invocation request with Newtonsoft.Json (through
// System.Net.Http.Formatting's JsonMediaTypeFormatter). Go's encoding/json produces
// the same JSON values but not always the same bytes: it escapes <, > and &, writes
// floats differently and knows nothing of .NET's DateTime text forms. The helpers in
// this file reproduce Newtonsoft's defaults so the stand-in's requests, and the
// golden files that document them, match what a handler receives in Azure byte for
// byte wherever the reference pins the behaviour down.

import (
	"math"
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
)

// netMaxDateTime is DateTimeOffset.MaxValue, what Service Bus reports as ExpiresAt
// for a message that never expires.
var netMaxDateTime = time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)

// netJSONDateTime writes a UTC DateTime as Newtonsoft's IsoDateFormat does:
// yyyy-MM-ddTHH:mm:ss.FFFFFFFZ (fraction trimmed of trailing zeros).
func netJSONDateTime(t time.Time) []byte {
	t = t.UTC().Truncate(100 * time.Nanosecond) // .NET ticks are 100 ns
	return netQuote(t.Format("2006-01-02T15:04:05.9999999") + "Z")
}
