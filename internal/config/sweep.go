package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/internal/ncrontab"
)

// DefaultSweepTimeout is the deadline of one sweep run: below host.json's functionTimeout (5 min), which
// would otherwise kill the handler in the middle of a run.
const DefaultSweepTimeout = 4 * time.Minute

// sweep reads the retention sweep's settings (docs/contract.md §13.2).
func (l *loader) sweep(c *Config, opts *LoadOptions) {
	c.SweepEnabled = true
	for _, name := range []string{EnvSweepDisabled, EnvSweepDisabledDotted} {
		v, given := l.lookupFold(name, opts.Environ)
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "":
		case "true", "1":
			c.SweepEnabled = false
		case "false", "0":
		default:
			if given {
				l.fail(name, v, errors.New("the Functions host reads only true or 1 as disabled, so this value would leave the sweep running; write true or false"))
			}
		}
	}
	c.SweepSchedule = strings.Join(strings.Fields(l.getenv(EnvSweepSchedule)), " ")
	if c.SweepSchedule != "" {
		if _, err := ncrontab.Parse(c.SweepSchedule); err != nil {
			l.fail(EnvSweepSchedule, c.SweepSchedule, fmt.Errorf("%v", strings.TrimPrefix(err.Error(), ncrontab.ErrInvalid.Error()+": ")))
		}
	}
	if v := strings.TrimSpace(l.getenv(EnvSweepAfter)); v != "" {
		d, err := ParseDuration(v)
		switch {
		case err != nil:
			l.fail(EnvSweepAfter, v, errors.New("want a duration such as 7d or 14d"))
		default:
			if err := CheckSweepAfter(d); err != nil {
				l.fail(EnvSweepAfter, v, err)
			}
			c.SweepAfter = d
		}
	}
	c.SweepTimeout = l.duration(EnvSweepTimeout, DefaultSweepTimeout, 30*time.Second)
	if l.err == nil && opts.Serving && c.SweepEnabled {
		const why = "not set, and the sweep function is enabled (%s is not true): set it, or disable the sweep with %s=true"
		switch {
		case c.SweepSchedule == "":
			l.fail(EnvSweepSchedule, "", fmt.Errorf(why+" (an NCRONTAB schedule with seconds, such as \"0 0 3 * * *\")", EnvSweepDisabled, EnvSweepDisabled))
		case c.SweepAfter == 0:
			l.fail(EnvSweepAfter, "", fmt.Errorf(why+" (how long after deletion an object is purged, such as 7d)", EnvSweepDisabled, EnvSweepDisabled))
		}
	}
}

// CheckSweepAfter applies the limits of PURGE_SWEEP_AFTER (also to `handler sweep --after`).
func CheckSweepAfter(d time.Duration) error {
	switch {
	case d < MinSweepAfter:
		return fmt.Errorf("must be at least 1d: the recycle bin is the window in which a deletion can be undone")
	case d > MaxSweepAfter:
		return fmt.Errorf("must be at most 30d: Microsoft Entra removes deleted objects 30 days after deletion, so the sweep would never find any")
	}
	return nil
}

// lookupFold reads name, ignoring letter case when the whole environment is known (.NET configuration,
// which the host reads it through, ignores case).
func (l *loader) lookupFold(name string, environ []string) (string, bool) {
	if v := l.getenv(name); v != "" {
		return v, true
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
