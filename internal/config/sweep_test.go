package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSweepSettings(t *testing.T) {
	// Not serving (the operator's commands): nothing is required, and the sweep counts as enabled, as the
	// host sees a function folder without a disable setting.
	c, err := Load(env(base()), nil)
	if err != nil || !c.SweepEnabled || c.SweepTimeout != DefaultSweepTimeout || c.SweepAfter != 0 || c.SweepSchedule != "" {
		t.Fatalf("defaults %+v %v", c, err)
	}
	kv := base()
	kv[EnvSweepSchedule] = " 0  0 3 * * * "
	kv[EnvSweepAfter] = "7d"
	kv[EnvSweepTimeout] = "2m"
	c, err = Load(env(kv), &LoadOptions{Serving: true})
	if err != nil || c.SweepSchedule != "0 0 3 * * *" || c.SweepAfter != 7*24*time.Hour || c.SweepTimeout != 2*time.Minute || !c.SweepEnabled {
		t.Fatalf("values %+v %v", c, err)
	}
	if f := c.Fields(); f["sweepAfter"] != "7d" || f["sweepSchedule"] != "0 0 3 * * *" || f["sweepEnabled"] != true {
		t.Errorf("fields %v", f)
	}
	// Disabled: either spelling, true or 1 in any case, the names in any case; then nothing is required.
	for _, d := range []map[string]string{{EnvSweepDisabled: "true"}, {EnvSweepDisabledDotted: "1"}, {"AZUREWEBJOBS_SWEEP_DISABLED": "TRUE"}} {
		kv := base()
		var environ []string
		for k, v := range d {
			kv[k] = v
			environ = append(environ, k+"="+v)
		}
		c, err := Load(env(kv), &LoadOptions{Serving: true, Environ: environ})
		if err != nil || c.SweepEnabled {
			t.Errorf("%v: enabled %v, %v", d, c != nil && c.SweepEnabled, err)
		}
	}
}

func TestSweepSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		kv      map[string]string
		serving bool
		name    string
		want    string
	}{
		{map[string]string{EnvSweepAfter: "7d"}, true, EnvSweepSchedule, "sweep function is enabled"},
		{map[string]string{EnvSweepSchedule: "0 0 3 * * *"}, true, EnvSweepAfter, "such as 7d"},
		{map[string]string{EnvSweepSchedule: "0 0 3 * *  * *", EnvSweepAfter: "7d"}, false, EnvSweepSchedule, "has 7 fields"},
		{map[string]string{EnvSweepSchedule: "0 0 3 * * 7"}, false, EnvSweepSchedule, "outside 0–6"},
		{map[string]string{EnvSweepAfter: "12h"}, false, EnvSweepAfter, "at least 1d"},
		{map[string]string{EnvSweepAfter: "0"}, false, EnvSweepAfter, "at least 1d"},
		{map[string]string{EnvSweepAfter: "31d"}, false, EnvSweepAfter, "at most 30d"},
		{map[string]string{EnvSweepAfter: "a week"}, false, EnvSweepAfter, "such as 7d"},
		{map[string]string{EnvSweepTimeout: "5s"}, false, EnvSweepTimeout, "at least 30s"},
		{map[string]string{EnvSweepDisabled: "yes"}, false, EnvSweepDisabled, "only true or 1"},
	} {
		kv := base()
		for k, v := range tc.kv {
			kv[k] = v
		}
		_, err := Load(env(kv), &LoadOptions{Serving: tc.serving})
		var se *SettingError
		if !errors.As(err, &se) || se.Name != tc.name || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v", tc.kv, err)
		}
	}
	// A typo of a sweep setting is refused like any other.
	_, err := Load(env(base()), &LoadOptions{Environ: []string{"PURGE_SWEEP_AFTR=7d"}})
	if err == nil || !strings.Contains(err.Error(), "did you mean PURGE_SWEEP_AFTER?") {
		t.Errorf("typo: %v", err)
	}
}
