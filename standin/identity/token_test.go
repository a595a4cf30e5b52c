package identity

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func testClaims(now time.Time) Claims {
	return Claims{
		Audience: "https://graph.microsoft.com", Issuer: "https://sts.windows.net/t/", AppID: "a", ObjectID: "o",
		TenantID: "t", Roles: []string{"User.DeleteRestore.All"}, IssuedAt: now.Unix(), NotBefore: now.Unix(),
		ExpiresAt: now.Add(time.Hour).Unix(),
	}
}

func TestSignParseRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	key := []byte("k1")
	raw, err := Sign(key, testClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(raw, "."); n != 2 {
		t.Fatalf("token has %d dots, want 2: %s", n, raw)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if !strings.Contains(string(hdr), `"alg":"HS256"`) || !strings.Contains(string(hdr), `"typ":"JWT"`) {
		t.Errorf("header = %s", hdr)
	}
	c, err := ParseToken(key, raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audience != "https://graph.microsoft.com" || !slices.Equal(c.Roles, []string{"User.DeleteRestore.All"}) {
		t.Errorf("claims = %+v", c)
	}
	if err := c.Valid(now); err != nil {
		t.Errorf("Valid(now) = %v", err)
	}
	if err := c.Valid(now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("Valid(exp) = %v, want ErrExpired", err)
	}
	if err := c.Valid(now.Add(-time.Second)); !errors.Is(err, ErrNotYetValid) {
		t.Errorf("Valid(before nbf) = %v, want ErrNotYetValid", err)
	}
}

func TestParseTokenRejects(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	key := []byte("k1")
	good, _ := Sign(key, testClaims(now))
	parts := strings.Split(good, ".")
	otherKey, _ := Sign([]byte("k2"), testClaims(now))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"x","exp":9999999999}`)) + "." + parts[2]
	for _, tc := range []struct {
		name string
		raw  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"opaque", "EwBwA8l6BAAURSN", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"alg none", none, ErrAlgorithm},
		{"other key", otherKey, ErrSignature},
		{"tampered payload", tampered, ErrSignature},
		{"bad base64 sig", parts[0] + "." + parts[1] + ".!!", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseToken(key, tc.raw); !errors.Is(err, tc.want) {
				t.Errorf("ParseToken = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParseToken(nil, good); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("nil key: %v", err)
	}
	if _, err := Sign(nil, Claims{}); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Sign nil key: %v", err)
	}
}
