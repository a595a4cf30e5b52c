package graphsim

import (
	"slices"
	"strings"
)

// typeInfo describes one directoryObject type the deletedItems API knows: how it is named in URLs
// and bodies, and which app roles (application permissions) allow what on it (docs/graph.md §1.1, §2.1).
type typeInfo struct {
	name      string // canonical name, the cast segment without "microsoft.graph."
	entitySet string // used in @odata.context of a LIST

	read  []string // GET and LIST
	purge []string // DELETE /directory/deletedItems/{id}
	// neverPurgeable types are refused with 403 whatever the roles: groups cannot be purged
	// app-only, administrative units not through this API at all.
	neverPurgeable bool
}

// directoryRead are the roles that read every directory object type.
var directoryRead = []string{"Directory.Read.All", "Directory.ReadWrite.All"}

func reads(roles ...string) []string { return append(roles, directoryRead...) }

var types = []*typeInfo{
	{
		name: "user", entitySet: "users",
		// User.DeleteRestore.All reading deleted users: what's-new Dec 2024 says it lists them; GET by
		// id is [?] in docs/graph.md §2.1, assumed allowed.
		read:  reads("User.Read.All", "User.ReadWrite.All", "User.DeleteRestore.All"),
		purge: []string{"User.DeleteRestore.All"},
	},
	{name: "group", entitySet: "groups", read: reads("Group.Read.All", "Group.ReadWrite.All"), neverPurgeable: true},
	appType("application", "applications"),
	appType("servicePrincipal", "servicePrincipals"),
	{
		name: "administrativeUnit", entitySet: "administrativeUnits",
		read: reads("AdministrativeUnit.Read.All", "AdministrativeUnit.ReadWrite.All"), neverPurgeable: true,
	},
	// The PKI rows list a Read permission for DELETE (docs/graph.md §2.1 "sic"); both the documented and
	// the probable real permission are accepted.
	pkiType("certificateBasedAuthPki", "certificateBasedAuthPkis"),
	pkiType("certificateAuthorityDetail", "certificateAuthorityDetails"),
	simpleType("agentIdentity", "agentIdentities", "AgentIdentity"),
	simpleType("agentIdentityBlueprint", "agentIdentityBlueprints", "AgentIdentityBlueprint"),
	simpleType("agentIdentityBlueprintPrincipal", "agentIdentityBlueprintPrincipals", "AgentIdentityBlueprintPrincipal"),
	{
		name: "agentUser", entitySet: "agentUsers",
		read:  reads("User.ReadBasic.All", "User.Read.All", "AgentIdUser.ReadWrite.IdentityParentedBy"),
		purge: []string{"AgentIdUser.ReadWrite.IdentityParentedBy"},
	},
}

// appType: applications and service principals. Application.ReadWrite.OwnedBy, which covers only
// the objects the identity owns, is not modelled: ownership is not, so it grants nothing here.
func appType(name, set string) *typeInfo {
	return &typeInfo{name: name, entitySet: set,
		read: reads("Application.Read.All", "Application.ReadWrite.All"), purge: []string{"Application.ReadWrite.All"}}
}

func pkiType(name, set string) *typeInfo {
	return &typeInfo{name: name, entitySet: set,
		read:  reads("PublicKeyInfrastructure.Read.All", "PublicKeyInfrastructure.ReadWrite.All"),
		purge: []string{"PublicKeyInfrastructure.ReadWrite.All", "PublicKeyInfrastructure.Read.All"}}
}

func simpleType(name, set, perm string) *typeInfo {
	return &typeInfo{name: name, entitySet: set, read: reads(perm+".Read.All", perm+".ReadWrite.All"), purge: []string{perm + ".ReadWrite.All"}}
}

// lookupType accepts "user", "microsoft.graph.user" and "#microsoft.graph.user", case-insensitively.
func lookupType(s string) *typeInfo {
	s = strings.TrimPrefix(s, "#")
	if len(s) > len("microsoft.graph.") && strings.EqualFold(s[:len("microsoft.graph.")], "microsoft.graph.") {
		s = s[len("microsoft.graph."):]
	}
	for _, t := range types {
		if strings.EqualFold(t.name, s) {
			return t
		}
	}
	return nil
}

// hasAny reports whether roles contains any of want (case-insensitively).
func hasAny(roles, want []string) bool {
	return slices.ContainsFunc(roles, func(r string) bool {
		return slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(r, w) })
	})
}

// isGUID accepts the canonical 8-4-4-4-12 hexadecimal form only, which is what Graph puts in object
// ids; braces, "urn:uuid:" and the 32-digit form are rejected as "Invalid object identifier".
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
