package graphsim

import (
	"slices"
	"strings"
)

// typeInfo describes one directoryObject type the deletedItems API knows: how it is named in URLs
// and bodies, and which app roles (application permissions) allow what on it (graph.md §1.1, §2.1).
type typeInfo struct {
	name      string // canonical name, the cast segment without "microsoft.graph."
	entitySet string // used in @odata.context of a LIST and of the soft-delete routes
	betaOnly  bool   // listed only by the beta deletedItems pages

	read, readOwned       []string // GET and LIST; *Owned roles only for objects the caller owns
	purge, purgeOwned     []string // DELETE /directory/deletedItems/{id}
	restore, restoreOwned []string // POST …/restore
	softDelete            []string // DELETE /{entitySet}/{id}, the test helper routes
	softDeleteOwned       []string

	// purgeRule overrides the role check for types Graph refuses outright.
	purgeRule purgeRule
}

type purgeRule int

const (
	purgeByRoles      purgeRule = iota
	purgeNeverAppOnly           // group: "Not supported" app-only → 403 whatever the roles
	purgeUnsupported            // administrativeUnit: cannot be purged through this API
)

// directoryRead are the roles that read every directory object type.
var directoryRead = []string{"Directory.Read.All", "Directory.ReadWrite.All"}

func reads(roles ...string) []string { return append(roles, directoryRead...) }

var types = []*typeInfo{
	{
		name: "user", entitySet: "users",
		// User.DeleteRestore.All reading deleted users: what's-new Dec 2024 says it lists them; GET by
		// id is [?] in graph.md, assumed allowed.
		read:       reads("User.Read.All", "User.ReadWrite.All", "User.DeleteRestore.All"),
		purge:      []string{"User.DeleteRestore.All"},
		restore:    []string{"User.DeleteRestore.All", "User.ReadWrite.All"},
		softDelete: []string{"User.DeleteRestore.All", "User.ReadWrite.All"},
	},
	{
		name: "group", entitySet: "groups",
		read:       reads("Group.Read.All", "Group.ReadWrite.All"),
		purgeRule:  purgeNeverAppOnly,
		restore:    []string{"Group.ReadWrite.All"},
		softDelete: []string{"Group.ReadWrite.All"},
	},
	appType("application", "applications"),
	appType("servicePrincipal", "servicePrincipals"),
	{
		name: "administrativeUnit", entitySet: "administrativeUnits",
		read:       reads("AdministrativeUnit.Read.All", "AdministrativeUnit.ReadWrite.All"),
		purgeRule:  purgeUnsupported,
		restore:    []string{"AdministrativeUnit.ReadWrite.All"},
		softDelete: []string{"AdministrativeUnit.ReadWrite.All"},
	},
	// The PKI rows list a Read permission for DELETE and restore (graph.md §2.1 "sic"); both the
	// documented and the probable real permission are accepted.
	pkiType("certificateBasedAuthPki", "certificateBasedAuthPkis"),
	pkiType("certificateAuthorityDetail", "certificateAuthorityDetails"),
	simpleType("agentIdentity", "agentIdentities", "AgentIdentity"),
	simpleType("agentIdentityBlueprint", "agentIdentityBlueprints", "AgentIdentityBlueprint"),
	simpleType("agentIdentityBlueprintPrincipal", "agentIdentityBlueprintPrincipals", "AgentIdentityBlueprintPrincipal"),
	{
		name: "agentUser", entitySet: "agentUsers",
		read:    reads("User.ReadBasic.All", "User.Read.All", "AgentIdUser.ReadWrite.IdentityParentedBy"),
		purge:   []string{"AgentIdUser.ReadWrite.IdentityParentedBy"},
		restore: []string{"AgentIdUser.ReadWrite.IdentityParentedBy"},
	},
	// Beta-only types; their permissions are not in graph.md and follow the usual naming [I].
	betaType(simpleType("device", "devices", "Device")),
	betaType(simpleType("externalUserProfile", "externalUserProfiles", "ExternalUserProfile")),
	betaType(simpleType("pendingExternalUserProfile", "pendingExternalUserProfiles", "ExternalUserProfile")),
}

func appType(name, set string) *typeInfo {
	all := []string{"Application.ReadWrite.All"}
	owned := []string{"Application.ReadWrite.OwnedBy"}
	return &typeInfo{
		name: name, entitySet: set,
		read: reads("Application.Read.All", "Application.ReadWrite.All"), readOwned: owned,
		purge: all, purgeOwned: owned,
		restore: all, restoreOwned: owned,
		softDelete: all, softDeleteOwned: owned,
	}
}

func pkiType(name, set string) *typeInfo {
	rw := []string{"PublicKeyInfrastructure.ReadWrite.All", "PublicKeyInfrastructure.Read.All"}
	return &typeInfo{name: name, entitySet: set,
		read: reads("PublicKeyInfrastructure.Read.All", "PublicKeyInfrastructure.ReadWrite.All"), purge: rw, restore: rw}
}

func simpleType(name, set, perm string) *typeInfo {
	rw := []string{perm + ".ReadWrite.All"}
	return &typeInfo{name: name, entitySet: set, read: reads(perm+".Read.All", perm+".ReadWrite.All"), purge: rw, restore: rw, softDelete: rw}
}

func betaType(t *typeInfo) *typeInfo { t.betaOnly = true; return t }

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

// lookupEntitySet finds the type whose soft-delete route is /{set}/{id}.
func lookupEntitySet(set string) *typeInfo {
	for _, t := range types {
		if t.softDelete != nil && strings.EqualFold(t.entitySet, set) {
			return t
		}
	}
	return nil
}

// allowed reports whether roles grant an operation: any of all, or any of owned when the caller's
// object id is among the object's owners.
func allowed(roles []string, all, owned []string, callerOID string, owners []string) bool {
	if hasAny(roles, all) {
		return true
	}
	return callerOID != "" && hasAny(roles, owned) && slices.ContainsFunc(owners, func(o string) bool { return strings.EqualFold(o, callerOID) })
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
