package memory

import (
	"fmt"
	"strings"
	"time"

	"hello/internal/config"
)

// Expiry bounds how long a partition is kept. A partition expires at the
// earlier of Absolute after it was last written and Sliding after it was
// last read or written. A bound <= 0 is not applied.
type Expiry struct {
	Absolute time.Duration
	Sliding  time.Duration
}

// DefaultExpiry is what a store keeps when TokenCache:AbsoluteExpiration
// and TokenCache:SlidingExpiration are empty.
//
// Absolute is 90 days: an Entra ID refresh token dies after 90 days unused,
// and every use returns a new one that MSAL writes back, so a partition not
// written for 90 days holds nothing that still works.
//
// Sliding is 14 days: a partition is only read while its user has a session
// (hours, see package session), and a user who comes back after two weeks
// signs in again anyway. Dropping such partitions bounds how many refresh
// tokens sit at rest for users who have left.
var DefaultExpiry = Expiry{Absolute: 90 * 24 * time.Hour, Sliding: 14 * 24 * time.Hour}

// ParseExpiry reads TokenCache:AbsoluteExpiration and
// TokenCache:SlidingExpiration (Go durations such as "2160h"; empty: the
// default; "0": no such bound). The file store and shared stores read them
// the same way.
func ParseExpiry(tc config.TokenCache) (Expiry, error) {
	e := DefaultExpiry
	for _, f := range []struct {
		name string
		s    string
		d    *time.Duration
	}{
		{"AbsoluteExpiration", tc.AbsoluteExpiration, &e.Absolute},
		{"SlidingExpiration", tc.SlidingExpiration, &e.Sliding},
	} {
		s := strings.TrimSpace(f.s)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return Expiry{}, fmt.Errorf(`config: TokenCache:%s %q is not a duration like "336h" (14 days) or "0" (no limit)`, f.name, f.s)
		}
		*f.d = d
	}
	return e, nil
}

// ExpiresAt returns when a partition written at written and last read or
// written at used expires, and false when no bound applies.
func (e Expiry) ExpiresAt(written, used time.Time) (time.Time, bool) {
	var at time.Time
	if e.Absolute > 0 {
		at = written.Add(e.Absolute)
	}
	if e.Sliding > 0 {
		if used.Before(written) {
			used = written
		}
		if s := used.Add(e.Sliding); at.IsZero() || s.Before(at) {
			at = s
		}
	}
	return at, !at.IsZero()
}

// Expired reports whether a partition written at written and last used at
// used has expired at now.
func (e Expiry) Expired(now, written, used time.Time) bool {
	at, ok := e.ExpiresAt(written, used)
	return ok && !now.Before(at)
}
