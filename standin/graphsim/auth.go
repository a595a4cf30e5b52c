package graphsim

import (
	"errors"
	"net/http"
	"strings"

	"github.com/entra-purge/entra-purge/standin/identity"
)

// GraphAppID is Microsoft Graph's application id; Graph accepts it as a token audience too.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// nationalHosts are the Graph hosts of graph.md §5; a request addressed to one of them (Host
// header) accepts tokens whose audience is that host.
var nationalHosts = []string{"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}

// caller is the authenticated identity behind a request.
type caller struct {
	appID, tenantID, objectID string
	roles                     []string
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
	claims, err := identity.ParseToken(s.opts.SigningKey, raw)
	if err != nil {
		return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenInvalid)
	}
	if err := claims.Valid(c.now); err != nil {
		if errors.Is(err, identity.ErrExpired) || errors.Is(err, identity.ErrNotYetValid) {
			return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenExpired)
		}
		return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenInvalid)
	}
	if !s.audienceOK(claims.Audience, r) {
		return nil, c.errorResponse(http.StatusUnauthorized, "InvalidAuthenticationToken", msgTokenAudience)
	}
	appID := claims.AppID
	if appID == "" {
		appID = claims.AuthorizedParty
	}
	return &caller{appID: appID, tenantID: claims.TenantID, objectID: claims.ObjectID, roles: claims.Roles}, nil
}

// audienceOK accepts Options.Audience, Graph's app id, and the URL the simulator was reached at
// (scheme://host). The last one matters because the purge handler derives its token scope from
// PURGE_GRAPH_ENDPOINT (DESIGN.md §4), so pointed at http://127.0.0.1:7081 it asks for a token for
// that resource — just as a national-cloud Graph accepts tokens for its own host.
func (s *Server) audienceOK(aud string, r *http.Request) bool {
	aud = strings.TrimRight(aud, "/")
	if strings.EqualFold(aud, strings.TrimRight(s.opts.Audience, "/")) || strings.EqualFold(aud, GraphAppID) {
		return true
	}
	if strings.EqualFold(aud, requestBase(r)) {
		return true
	}
	host := r.Host
	for _, h := range nationalHosts {
		if strings.EqualFold(host, h) && strings.EqualFold(aud, "https://"+h) {
			return true
		}
	}
	return false
}

// requestBase is scheme://host of the request as the client addressed it.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
