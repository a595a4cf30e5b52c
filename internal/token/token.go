// Package token reads the claims of a Microsoft Entra access token for `handler check`, which reports the
// application permissions (the "roles" claim) the identity's Graph token carries. It never verifies or
// prints the token: Graph verifies it, and tokens never appear in output.
package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Claims are the parts of an access token an operator needs to see.
type Claims struct {
	Audience string   `json:"-"`
	AppID    string   `json:"appid"`
	ObjectID string   `json:"oid"`
	TenantID string   `json:"tid"`
	Roles    []string `json:"roles"`
	Expiry   int64    `json:"exp"`
}

// ExpiresAt returns the expiry as a time.
func (c Claims) ExpiresAt() time.Time { return time.Unix(c.Expiry, 0).UTC() }

// ErrNotJWT is returned for a token that is not a JWT (header.payload.signature).
var ErrNotJWT = errors.New("the access token is not a JWT")

// Parse decodes the payload of a JWT without checking its signature.
func Parse(raw string) (Claims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return Claims{}, ErrNotJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, ErrNotJWT
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, ErrNotJWT
	}
	// "aud" is a string in Entra tokens, but JWT allows an array.
	var aud struct {
		Aud json.RawMessage `json:"aud"`
	}
	_ = json.Unmarshal(payload, &aud)
	var one string
	var many []string
	if json.Unmarshal(aud.Aud, &one) == nil {
		c.Audience = one
	} else if json.Unmarshal(aud.Aud, &many) == nil && len(many) > 0 {
		c.Audience = many[0]
	}
	return c, nil
}
