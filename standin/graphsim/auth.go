package graphsim

import (
	"errors"
	"net/http"
	"strings"

	"github.com/entra-purge/entra-purge/standin/identity"
)

// caller is the authenticated identity behind a request.
type caller struct {
	appID, tenantID string
	roles           []string
}

// authenticate checks the bearer token: present, signed by the identity stand-in, within its
// lifetime, and for this service. Failures are 401 InvalidAuthenticationToken with the message
// Graph gives for each case.
func (s *Server) authenticate(r *http.Request, c *rc) (*caller, *response) {
	h := r.Header.Get("Authorization")
	scheme, raw, _ := strings.Cut(h, " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenEmpty)
	}
	claims, err := identity.ParseToken(identity.DevSigningKey, raw)
	if err != nil {
		return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenInvalid)
	}
	if err := claims.Valid(c.now); err != nil {
		if errors.Is(err, identity.ErrExpired) || errors.Is(err, identity.ErrNotYetValid) {
			return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenExpired)
		}
		return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenInvalid)
	}
	if !audienceOK(claims.Audience, r) {
		return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenAudience)
	}
	appID := claims.AppID
	if appID == "" {
		appID = claims.AuthorizedParty
	}
	return &caller{appID: appID, tenantID: claims.TenantID, roles: claims.Roles}, nil
}

// audienceOK accepts the URL the simulator was reached at (scheme://host): the purge handler derives
// its token scope from PURGE_GRAPH_ENDPOINT (docs/contract.md §10), so pointed at http://127.0.0.1:7081 it
// asks for a token for that resource — just as Graph accepts tokens for its own host.
func audienceOK(aud string, r *http.Request) bool {
	return strings.EqualFold(strings.TrimRight(aud, "/"), requestBase(r))
}

// requestBase is scheme://host of the request as the client addressed it.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
