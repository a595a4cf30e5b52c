package directory

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseObjectID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b", "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b", true},
		{"8F3C1A2B-4D5E-4F60-8A7B-9C0D1E2F3A4B", "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b", true},
		{"", "", false},
		{"00000000-0000-0000-0000-000000000000", "", false},
		{"8f3c1a2b4d5e4f608a7b9c0d1e2f3a4b", "", false},
		{"{8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b}", "", false},
		{"../users/8f3c1a2b-4d5e-4f60-8a7b-9c0", "", false},
		{"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4g", "", false},
		{"8f3c1a2b_4d5e-4f60-8a7b-9c0d1e2f3a4b", "", false},
		{"alice@contoso.com", "", false},
		{"8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b ", "", false},
	}
	for _, tt := range tests {
		got, err := ParseObjectID(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseObjectID(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalidObjectID) {
			t.Errorf("ParseObjectID(%q) error %v does not wrap ErrInvalidObjectID", tt.in, err)
		}
		if got.String() != tt.want {
			t.Errorf("ParseObjectID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{
		"user": User, "User": User, "#microsoft.graph.user": User, "microsoft.graph.servicePrincipal": ServicePrincipal,
		"SERVICEPRINCIPAL": ServicePrincipal, " group ": Group, "administrativeunit": AdministrativeUnit,
	} {
		got, err := ParseType(in)
		if err != nil || got != want {
			t.Errorf("ParseType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "users", "device", "#microsoft.graph.", "microsoft.graph.foo"} {
		if _, err := ParseType(in); !errors.Is(err, ErrUnknownType) {
			t.Errorf("ParseType(%q) error = %v, want ErrUnknownType", in, err)
		}
	}
}

func TestPurgeable(t *testing.T) {
	for _, typ := range Types {
		ok, why := typ.Purgeable()
		wantOK := typ != Group && typ != AdministrativeUnit
		if ok != wantOK || (ok == (why != "")) {
			t.Errorf("%s.Purgeable() = %v, %q", typ, ok, why)
		}
	}
	if User.PurgePermission() != "User.DeleteRestore.All" {
		t.Errorf("user permission = %q", User.PurgePermission())
	}
}

func TestKindOf(t *testing.T) {
	nf := &Error{Kind: NotFound, Err: errors.New("404")}
	if KindOf(nf) != NotFound || KindOf(fmt.Errorf("wrapped: %w", nf)) != NotFound {
		t.Error("KindOf does not find a wrapped *Error")
	}
	if KindOf(errors.New("plain")) != Unreachable {
		t.Error("an unclassified error must count as Unreachable")
	}
	for k, temporary := range map[ErrorKind]bool{Unreachable: true, NoToken: true, Throttled: true, Unavailable: true,
		NotFound: false, Forbidden: false, HardDeleteProtected: false, Rejected: false} {
		if k.Temporary() != temporary {
			t.Errorf("%s.Temporary() = %v", k, !temporary)
		}
	}
	if !errors.Is(nf, nf.Err) || nf.Error() != "404" {
		t.Errorf("Error %q does not unwrap to its cause", nf)
	}
}
