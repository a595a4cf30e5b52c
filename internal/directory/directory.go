// Package directory knows the two facts about Microsoft Entra directory objects that every other package
// relies on: what a valid object id looks like, and which object types exist, can be purged app-only, and
// which Microsoft Graph application permission each needs.
//
// An [ObjectID] can only be made by [ParseObjectID], so any code that holds one holds a canonical,
// lower-case GUID. The Graph client takes ObjectIDs, never strings: text from a message cannot reach a
// Graph URL without passing through here first.
package directory

import (
	"errors"
	"fmt"
	"strings"
)

// ObjectID is the id of a directory object: a GUID in canonical lower-case 8-4-4-4-12 form.
// The zero value is not a valid id; see [ObjectID.IsZero].
type ObjectID struct{ s string }

// ErrInvalidObjectID is wrapped by every error [ParseObjectID] returns.
var ErrInvalidObjectID = errors.New("not a directory object id")

// ParseObjectID accepts a GUID in the canonical 8-4-4-4-12 hexadecimal form, in any letter case, and
// returns it normalised to lower case. It rejects everything else — UPNs, paths, GUIDs in braces or without
// hyphens, the nil GUID — because the result is placed in a URL of an irreversible request.
func ParseObjectID(s string) (ObjectID, error) {
	if len(s) != 36 {
		return ObjectID{}, fmt.Errorf("%w: %q is not a GUID (want 8-4-4-4-12 hexadecimal digits)", ErrInvalidObjectID, clip(s))
	}
	b := []byte(s)
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return ObjectID{}, fmt.Errorf("%w: %q is not a GUID (want 8-4-4-4-12 hexadecimal digits)", ErrInvalidObjectID, clip(s))
			}
			continue
		}
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return ObjectID{}, fmt.Errorf("%w: %q is not a GUID (want 8-4-4-4-12 hexadecimal digits)", ErrInvalidObjectID, clip(s))
		}
	}
	id := string(b)
	if id == "00000000-0000-0000-0000-000000000000" {
		return ObjectID{}, fmt.Errorf("%w: the nil GUID names no object", ErrInvalidObjectID)
	}
	return ObjectID{s: id}, nil
}

// MustParseObjectID is ParseObjectID for constants in tests and examples; it panics on a bad id.
func MustParseObjectID(s string) ObjectID {
	id, err := ParseObjectID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// String returns the canonical lower-case form, or "" for the zero ObjectID.
func (id ObjectID) String() string { return id.s }

// IsZero reports whether id was never set by ParseObjectID.
func (id ObjectID) IsZero() bool { return id.s == "" }

// clip keeps error messages (which reach logs and failure-queue descriptions) short when the input is huge.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Type is a directory object type as Microsoft Graph names it in `@odata.type` (without the
// "#microsoft.graph." prefix), for example "user" or "servicePrincipal".
type Type string

// The object types the deletedItems API knows (docs/graph.md §1.1).
const (
	User                            Type = "user"
	Group                           Type = "group"
	Application                     Type = "application"
	ServicePrincipal                Type = "servicePrincipal"
	AdministrativeUnit              Type = "administrativeUnit"
	CertificateBasedAuthPki         Type = "certificateBasedAuthPki"
	CertificateAuthorityDetail      Type = "certificateAuthorityDetail"
	AgentIdentity                   Type = "agentIdentity"
	AgentIdentityBlueprint          Type = "agentIdentityBlueprint"
	AgentIdentityBlueprintPrincipal Type = "agentIdentityBlueprintPrincipal"
	AgentUser                       Type = "agentUser"
)

// Types lists every known type in a stable order.
var Types = []Type{User, Group, Application, ServicePrincipal, AdministrativeUnit, CertificateBasedAuthPki,
	CertificateAuthorityDetail, AgentIdentity, AgentIdentityBlueprint, AgentIdentityBlueprintPrincipal, AgentUser}

// ErrUnknownType is wrapped by [ParseType] errors.
var ErrUnknownType = errors.New("unknown directory object type")

// ParseType accepts a type name in any letter case, with or without the "#microsoft.graph." or
// "microsoft.graph." prefix Graph uses in `@odata.type`, and returns the canonical name.
func ParseType(s string) (Type, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "#")
	if len(t) >= len("microsoft.graph.") && strings.EqualFold(t[:len("microsoft.graph.")], "microsoft.graph.") {
		t = t[len("microsoft.graph."):]
	}
	for _, known := range Types {
		if strings.EqualFold(t, string(known)) {
			return known, nil
		}
	}
	return "", fmt.Errorf("%w %q (known: %s)", ErrUnknownType, clip(s), strings.Join(typeNames(), ", "))
}

func typeNames() []string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return names
}

// Purgeable reports whether objects of type t can be permanently deleted through the deletedItems API by
// an application (app-only), as a managed identity calls it. When it cannot, why says so in a sentence an
// operator can act on.
func (t Type) Purgeable() (ok bool, why string) {
	switch t {
	case Group:
		return false, "Microsoft Graph does not support purging groups with application permissions (app-only); " +
			"purge the group as a signed-in Groups Administrator, or let the recycle bin remove it after 30 days"
	case AdministrativeUnit:
		return false, "administrative units cannot be permanently deleted through the deletedItems API; " +
			"Microsoft Entra removes them 30 days after deletion"
	}
	return true, ""
}

// PurgePermission names the Microsoft Graph application permission a purge of type t needs
// (docs/graph.md §2.1). For types that cannot be purged app-only it explains that instead.
func (t Type) PurgePermission() string {
	switch t {
	case User:
		return "User.DeleteRestore.All"
	case Application, ServicePrincipal:
		return "Application.ReadWrite.OwnedBy (only for objects the identity owns) or Application.ReadWrite.All"
	case Group:
		return "none: Graph does not support purging groups app-only"
	case AdministrativeUnit:
		return "none: administrative units cannot be purged through this API"
	case CertificateBasedAuthPki, CertificateAuthorityDetail:
		return "PublicKeyInfrastructure.ReadWrite.All"
	case AgentIdentity:
		return "AgentIdentity.ReadWrite.All"
	case AgentIdentityBlueprint:
		return "AgentIdentityBlueprint.ReadWrite.All"
	case AgentIdentityBlueprintPrincipal:
		return "AgentIdentityBlueprintPrincipal.ReadWrite.All"
	case AgentUser:
		return "AgentIdUser.ReadWrite.IdentityParentedBy"
	}
	return "the permission Graph documents for purging this type"
}

// ReadPermission names the application permission that lets the identity read a deleted object of type t
// (`GET /directory/deletedItems/{id}`), which verification needs (docs/graph.md §2.1).
func (t Type) ReadPermission() string {
	switch t {
	case User:
		return "User.Read.All"
	case Application, ServicePrincipal:
		return "Application.Read.All"
	case Group:
		return "Group.Read.All"
	case AdministrativeUnit:
		return "AdministrativeUnit.Read.All"
	case CertificateBasedAuthPki, CertificateAuthorityDetail:
		return "PublicKeyInfrastructure.Read.All"
	case AgentUser:
		return "User.ReadBasic.All"
	}
	return "Directory.Read.All"
}

// PurgeRoles lists the application permissions (app roles in a token's "roles" claim), any one of which
// lets an identity purge objects of type t. Empty when no permission allows it app-only.
func (t Type) PurgeRoles() []string {
	switch t {
	case User:
		return []string{"User.DeleteRestore.All"}
	case Application, ServicePrincipal:
		return []string{"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"}
	case CertificateBasedAuthPki, CertificateAuthorityDetail:
		return []string{"PublicKeyInfrastructure.ReadWrite.All"}
	case AgentIdentity:
		return []string{"AgentIdentity.ReadWrite.All"}
	case AgentIdentityBlueprint:
		return []string{"AgentIdentityBlueprint.ReadWrite.All"}
	case AgentIdentityBlueprintPrincipal:
		return []string{"AgentIdentityBlueprintPrincipal.ReadWrite.All"}
	case AgentUser:
		return []string{"AgentIdUser.ReadWrite.IdentityParentedBy"}
	}
	return nil
}

// ReadRoles lists the application permissions, any one of which lets an identity read a deleted object of
// type t, as verification does.
func (t Type) ReadRoles() []string {
	switch t {
	case User:
		return []string{"User.Read.All", "User.ReadWrite.All", "User.DeleteRestore.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	case Application, ServicePrincipal:
		return []string{"Application.Read.All", "Application.ReadWrite.All", "Application.ReadWrite.OwnedBy", "Directory.Read.All", "Directory.ReadWrite.All"}
	case Group:
		return []string{"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	}
	return []string{t.ReadPermission(), "Directory.Read.All"}
}
