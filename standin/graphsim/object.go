package graphsim

import (
	"fmt"
	"strings"
	"time"
)

// Object is a directory object known to the simulator, active or in the recycle bin.
type Object struct {
	// ID is the object id (a GUID; stored lower-case).
	ID string
	// Type is the directoryObject type: "user", "group", "application", "servicePrincipal",
	// "administrativeUnit", or any other type of docs/graph.md §1.1 ("microsoft.graph." prefix optional).
	Type string
	// DisplayName and UserPrincipalName (users only) appear in GET and LIST bodies.
	DisplayName, UserPrincipalName string
	// DeletedAt is deletedDateTime: zero means the object is active (not in the bin).
	DeletedAt time.Time
	// OnPremisesSyncEnabled is reported for users: nil = cloud-only (JSON null), true = synced.
	OnPremisesSyncEnabled *bool
	// HardDeleteProtected models the beta isHardDeleteProtectionEnabled flag: a purge within
	// ProtectionWindow (7 days) of DeletedAt is refused.
	HardDeleteProtected bool
	// LagReads models replication lag: the first LagReads requests by id after Add (GET or DELETE)
	// answer 404 as if the soft delete had not replicated yet, and LIST omits the object meanwhile.
	LagReads int
}

// entry is the simulator's state for one object id.
type entry struct {
	obj      Object
	typ      *typeInfo
	lagReads int
	purged   bool
}

func (o Object) clone() Object {
	if o.OnPremisesSyncEnabled != nil {
		v := *o.OnPremisesSyncEnabled
		o.OnPremisesSyncEnabled = &v
	}
	return o
}

// normalize validates o and returns it with a lower-case id and the canonical type name.
func normalize(o Object) (Object, *typeInfo, error) {
	if !isGUID(o.ID) {
		return o, nil, fmt.Errorf("graphsim: object id %q is not a GUID", o.ID)
	}
	t := lookupType(o.Type)
	if t == nil {
		return o, nil, fmt.Errorf("graphsim: object %s: unknown type %q", o.ID, o.Type)
	}
	if o.LagReads < 0 {
		return o, nil, fmt.Errorf("graphsim: object %s: negative lag", o.ID)
	}
	o = o.clone()
	o.ID = strings.ToLower(o.ID)
	o.Type = t.name
	if !o.DeletedAt.IsZero() {
		o.DeletedAt = o.DeletedAt.UTC()
	}
	return o, t, nil
}

// protectedUntil is the end of the hard-delete protection window, or zero when it does not apply.
func (e *entry) protectedUntil() time.Time {
	if !e.obj.HardDeleteProtected || e.obj.DeletedAt.IsZero() {
		return time.Time{}
	}
	return e.obj.DeletedAt.Add(ProtectionWindow)
}

// render builds the JSON body of an object.
func (e *entry) render() map[string]any {
	o := e.obj
	m := map[string]any{"@odata.type": "#microsoft.graph." + e.typ.name, "id": o.ID, "displayName": o.DisplayName}
	if o.DeletedAt.IsZero() {
		m["deletedDateTime"] = nil
	} else {
		m["deletedDateTime"] = o.DeletedAt.Format(time.RFC3339)
	}
	if e.typ.name == "user" {
		m["userPrincipalName"] = o.UserPrincipalName
		if o.OnPremisesSyncEnabled == nil {
			m["onPremisesSyncEnabled"] = nil
		} else {
			m["onPremisesSyncEnabled"] = *o.OnPremisesSyncEnabled
		}
	}
	return m
}
