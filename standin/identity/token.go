package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DevSigningKey is the HMAC key the identity endpoint signs with and the Graph simulator verifies
// with, so that the two trust each other. It protects nothing: the tokens only ever travel between
// local stand-ins.
var DevSigningKey = []byte("entra-purge-standin-signing-key-not-a-secret")

// KeyID is the "kid" header of every token this package signs. Real Entra tokens carry the id of
// the RSA key; a constant is enough to let a reader recognise a stand-in token.
const KeyID = "entra-purge-standin"

// Errors returned by ParseToken and Claims.Valid. The Graph simulator maps them onto the different
// 401 messages Graph gives for a malformed token, a bad signature and an expired token.
var (
	ErrMalformed     = errors.New("token is not a compact JWS (header.payload.signature)")
	ErrAlgorithm     = errors.New("token is not signed with HS256")
	ErrSignature     = errors.New("token signature does not verify")
	ErrExpired       = errors.New("token has expired")
	ErrNotYetValid   = errors.New("token is not yet valid")
	ErrEmptyKey      = errors.New("signing key is empty")
	errBadClaimsJSON = errors.New("token payload is not a JSON claims object")
)

// Claims are the claims of a stand-in access token. They follow the v1.0 access tokens Entra
// issues to managed identities for Microsoft Graph (aud = the resource, appid = the identity's
// client id, oid/sub = its service principal, roles = the granted app roles, idtyp = "app"), so
// code that inspects a real token's roles claim can be exercised unchanged.
type Claims struct {
	Audience        string   `json:"aud"`
	Issuer          string   `json:"iss"`
	AppID           string   `json:"appid"`
	AuthorizedParty string   `json:"azp,omitempty"`
	ObjectID        string   `json:"oid"`
	Subject         string   `json:"sub,omitempty"`
	TenantID        string   `json:"tid"`
	Roles           []string `json:"roles,omitempty"`
	IDType          string   `json:"idtyp,omitempty"`
	TokenID         string   `json:"uti,omitempty"`
	Version         string   `json:"ver,omitempty"`
	IssuedAt        int64    `json:"iat"`
	NotBefore       int64    `json:"nbf"`
	ExpiresAt       int64    `json:"exp"`
}

// Valid checks the lifetime claims at now: ErrNotYetValid before nbf, ErrExpired at or after exp.
// No clock skew is allowed, unlike real Graph (about five minutes), so that a test of the "expired
// token" path needs no sleeping and a client cannot come to rely on the tolerance.
func (c Claims) Valid(now time.Time) error {
	s := now.Unix()
	if c.NotBefore != 0 && s < c.NotBefore {
		return ErrNotYetValid
	}
	if s >= c.ExpiresAt {
		return ErrExpired
	}
	return nil
}

type jwsHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid,omitempty"`
}

var b64 = base64.RawURLEncoding

// Sign encodes the claims as a compact JWT (base64url header.payload.signature) signed with
// HMAC-SHA256 under key. A symmetric key keeps the stand-ins dependency-free; the Graph simulator
// only needs to know the same key.
func Sign(key []byte, c Claims) (string, error) {
	if len(key) == 0 {
		return "", ErrEmptyKey
	}
	h, err := json.Marshal(jwsHeader{Alg: "HS256", Typ: "JWT", Kid: KeyID})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	return signing + "." + b64.EncodeToString(mac(key, signing)), nil
}

// ParseToken verifies a token made by Sign (structure, alg = HS256, signature under key) and returns
// its claims. It does not check the lifetime: call Claims.Valid, so that the caller can tell an
// expired token from a forged one.
func ParseToken(key []byte, raw string) (Claims, error) {
	var c Claims
	if len(key) == 0 {
		return c, ErrEmptyKey
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return c, ErrMalformed
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, ErrMalformed
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return c, ErrMalformed
	}
	if h.Alg != "HS256" {
		return c, fmt.Errorf("%w (alg %q)", ErrAlgorithm, h.Alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return c, ErrMalformed
	}
	if !hmac.Equal(sig, mac(key, parts[0]+"."+parts[1])) {
		return c, ErrSignature
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, ErrMalformed
	}
	if err := json.Unmarshal(pb, &c); err != nil {
		return Claims{}, errBadClaimsJSON
	}
	return c, nil
}

func mac(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
