package token

import (
	"encoding/base64"
	"errors"
	"testing"
)

func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(payload)) + ".sig"
}

func TestParse(t *testing.T) {
	c, err := Parse(jwt(`{"aud":"https://graph.microsoft.com","roles":["User.DeleteRestore.All","User.Read.All"],"exp":1767225600,"oid":"o"}`))
	if err != nil || c.Audience != "https://graph.microsoft.com" || len(c.Roles) != 2 || c.ExpiresAt().Year() != 2026 {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = Parse(jwt(`{"aud":["a","b"]}`))
	if err != nil || c.Audience != "a" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"", "abc", "a.b", "a.!!!.c", jwt(`[1]`)} {
		if _, err := Parse(bad); !errors.Is(err, ErrNotJWT) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
