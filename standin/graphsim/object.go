package graphsim

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// Object is a directory object known to the simulator, active or in the recycle bin.
type Object struct {
	// ID is the object id (a GUID; stored lower-case).
	ID string
	// Type is the directoryObject type: "user", "group", "application", "servicePrincipal",
	// "administrativeUnit", or any other type of graph.md §1.1 ("microsoft.graph." prefix optional).
	Type string
	// DisplayName and UserPrincipalName (users only) appear in GET and LIST bodies.
	DisplayName, UserPrincipalName string
	// DeletedAt is deletedDateTime: zero means the object is active (not in the bin).
	DeletedAt time.Time
	// OnPremisesSyncEnabled is reported for users: nil = cloud-only (JSON null), true = synced.
	OnPremisesSyncEnabled *bool
	// HardDeleteProtected models the beta isHardDeleteProtectionEnabled flag: a purge within
	// Options.ProtectionWindow (7 days) of DeletedAt is refused. Graph exempts users synced from
	// on-premises, and so does the simulator.
	HardDeleteProtected bool
	// Owners are the object ids of the object's owners; they matter for
	// Application.ReadWrite.OwnedBy, which covers only owned applications and service principals.
	Owners []string
	// Lag and LagReads model replication lag: after the object enters the bin (Add with DeletedAt
	// set, SoftDelete, or DELETE /users/{id} etc.) GET/DELETE/restore by id answer 404 until Lag has
	// passed and LagReads such requests have been answered 404, and LIST omits it.
	Lag      time.Duration
	LagReads int
	// Properties are extra JSON properties of the object (for example "appId", "groupTypes"). They
	// cannot override "id", "@odata.type" or "deletedDateTime".
	Properties map[string]any
}

// entry is the simulator's state for one object id.
type entry struct {
	obj      Object
	typ      *typeInfo
	lagUntil time.Time
	lagReads int
	purged   bool
}

func (o Object) clone() Object {
	o.Owners = append([]string(nil), o.Owners...)
	o.Properties = maps.Clone(o.Properties)
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
	if o.Lag < 0 || o.LagReads < 0 {
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

// enterBin starts the replication-lag window at now.
func (e *entry) enterBin(now time.Time) {
	e.lagUntil = now.Add(e.obj.Lag)
	e.lagReads = e.obj.LagReads
}

// protectedUntil is the end of the hard-delete protection window, or zero when it does not apply.
func (e *entry) protectedUntil(window time.Duration) time.Time {
	o := e.obj
	if !o.HardDeleteProtected || o.DeletedAt.IsZero() {
		return time.Time{}
	}
	if e.typ.name == "user" && o.OnPremisesSyncEnabled != nil && *o.OnPremisesSyncEnabled {
		return time.Time{}
	}
	return o.DeletedAt.Add(window)
}

// render builds the JSON body of an object. limited gives the "inaccessible member" form of a LIST
// (only @odata.type and id); sel, when non-empty, keeps only the $select-ed properties.
func (e *entry) render(limited bool, sel []string) map[string]any {
	o := e.obj
	m := map[string]any{"@odata.type": "#microsoft.graph." + e.typ.name, "id": o.ID}
	if limited {
		return m
	}
	for k, v := range o.Properties {
		m[k] = v
	}
	m["id"] = o.ID
	m["@odata.type"] = "#microsoft.graph." + e.typ.name
	if o.DeletedAt.IsZero() {
		m["deletedDateTime"] = nil
	} else {
		m["deletedDateTime"] = o.DeletedAt.Format(time.RFC3339)
	}
	m["displayName"] = o.DisplayName
	if e.typ.name == "user" {
		m["userPrincipalName"] = o.UserPrincipalName
		if o.OnPremisesSyncEnabled == nil {
			m["onPremisesSyncEnabled"] = nil
		} else {
			m["onPremisesSyncEnabled"] = *o.OnPremisesSyncEnabled
		}
	}
	if len(sel) > 0 {
		for k := range m {
			if k != "@odata.type" && !containsFold(sel, k) {
				delete(m, k)
			}
		}
	}
	return m
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
