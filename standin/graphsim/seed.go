package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// SeedObject is the JSON form of an Object in a seed file (`go run ./standin graph -seed`), a JSON array of
// these. Times and durations are strings so the file can be written by hand:
//
//	[{"id":"8f3c0c55-1f0e-4a43-9d0e-3c2b1a0f9e01","type":"user","displayName":"Leaver",
//	  "userPrincipalName":"leaver@contoso.example","deletedAgo":"2d"},
//	 {"id":"…","type":"application","deletedDateTime":"2026-06-01T00:00:00Z","hardDeleteProtected":true},
//	 {"id":"…","type":"user","lagReads":1}]
//
// deletedAgo is a Go duration ("90m", "2h") or whole days ("2d"), as the handler's settings are
// ("7d"). Without deletedDateTime or deletedAgo an object is deleted "now" (when the file is
// loaded). standin/seed.json is an example.
type SeedObject struct {
	ID                    string     `json:"id"`
	Type                  string     `json:"type"`
	DisplayName           string     `json:"displayName,omitempty"`
	UserPrincipalName     string     `json:"userPrincipalName,omitempty"`
	DeletedDateTime       *time.Time `json:"deletedDateTime,omitempty"`
	DeletedAgo            string     `json:"deletedAgo,omitempty"`
	OnPremisesSyncEnabled *bool      `json:"onPremisesSyncEnabled,omitempty"`
	HardDeleteProtected   bool       `json:"hardDeleteProtected,omitempty"`
	LagReads              int        `json:"lagReads,omitempty"`
}

// ParseSeed reads a seed file and returns its objects, validated (GUID ids, known types), with
// relative times resolved against now. Unknown fields are errors, so a misspelt key is not
// silently ignored.
func ParseSeed(r io.Reader, now time.Time) ([]Object, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var seeds []SeedObject
	if err := dec.Decode(&seeds); err != nil {
		return nil, fmt.Errorf("graphsim: seed: %w", err)
	}
	out := make([]Object, 0, len(seeds))
	for i, sd := range seeds {
		o := Object{
			ID: sd.ID, Type: sd.Type, DisplayName: sd.DisplayName, UserPrincipalName: sd.UserPrincipalName,
			OnPremisesSyncEnabled: sd.OnPremisesSyncEnabled, HardDeleteProtected: sd.HardDeleteProtected,
			LagReads: sd.LagReads, DeletedAt: now,
		}
		switch {
		case sd.DeletedDateTime != nil && sd.DeletedAgo != "":
			return nil, fmt.Errorf("graphsim: seed object %d: give only one of deletedDateTime, deletedAgo", i)
		case sd.DeletedDateTime != nil:
			o.DeletedAt = *sd.DeletedDateTime
		case sd.DeletedAgo != "":
			ago, err := parseAgo(sd.DeletedAgo)
			if err != nil {
				return nil, fmt.Errorf("graphsim: seed object %d: deletedAgo: %w", i, err)
			}
			o.DeletedAt = now.Add(-ago)
		}
		o.DeletedAt = o.DeletedAt.UTC().Truncate(time.Second)
		if _, _, err := normalize(o); err != nil {
			return nil, fmt.Errorf("seed object %d: %w", i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// parseAgo reads a duration the way the handler's settings are written: a Go duration ("90m", "2h")
// or whole days ("2d").
func parseAgo(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q (a Go duration such as 90m, or whole days such as 2d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
