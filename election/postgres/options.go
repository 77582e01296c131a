package postgres

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults of the options.
const (
	// DefaultTTL is how long a lease lasts in the database after its last
	// renewal, unless WithTTL says otherwise.
	DefaultTTL = 10 * time.Second
	// DefaultTable is the lease table's name unless WithTable says
	// otherwise.
	DefaultTable = "routinely_leases"
)

// The renew interval defaults to TTL/3 and the safety margin to TTL/5:
// with the default TTL, a renewal every 3.33 s and a local deadline 8 s
// after each renewal was sent.
const (
	defaultRenewDivisor  = 3
	defaultMarginDivisor = 5
)

// MaxHolderLength is the longest holder identity WithHolder accepts.
const MaxHolderLength = 256

// Option configures an Elector. An invalid value makes New and NewWithPool
// return an error naming the option.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	ttl, renew, margin time.Duration
	table              string
	holder             string
	marginSet          bool
}

// WithTTL sets how long a lease lasts in the database after each renewal:
// after a leader stops renewing (crash, network partition), another
// replica takes over within TTL plus the renew interval. It must be at
// least a millisecond.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) error {
		if ttl < time.Millisecond {
			return fmt.Errorf("WithTTL: %v is too short: the TTL must be at least 1ms", ttl)
		}
		c.ttl = ttl
		return nil
	})
}

// WithRenewInterval sets how often the Elector renews its leases and tries
// to acquire the ones it campaigns for, in one round trip for all of them.
// The default is TTL/3. It may be at most (TTL - safety margin)/2, so that
// after a renewal fails, another is sent before the local deadline: one
// failed round trip does not cost the leadership.
func WithRenewInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithRenewInterval: %v is not positive", d)
		}
		c.renew = d
		return nil
	})
}

// WithSafetyMargin sets how much earlier than the database this process
// considers a lease expired: a lease renewed by a request sent at local
// time t0 is held locally until t0 + TTL - margin, by the monotonic clock.
// The margin absorbs the difference in clock rates between this process
// and the database, and the time a handler takes to notice Done. The
// default is TTL/5; zero is allowed.
func WithSafetyMargin(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithSafetyMargin: %v is negative", d)
		}
		c.margin = d
		c.marginSet = true
		return nil
	})
}

var tableRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$`)

// WithTable sets the lease table's name, DefaultTable by default. It is an
// unquoted lower-case SQL identifier, optionally qualified by a schema
// ("jobs.leases"); without a schema, the connection's search_path applies.
// Every Elector that campaigns for the same routines must use the same
// table.
func WithTable(name string) Option {
	return optionFunc(func(c *config) error {
		if !tableRE.MatchString(name) {
			return fmt.Errorf("WithTable: %q is not a lower-case SQL identifier (letters a-z, digits, _), optionally qualified by a schema", name)
		}
		c.table = name
		return nil
	})
}

// WithHolder sets the identity this Elector writes in the holder column.
// It must be unique among the live processes that share the table: two
// Electors with the same identity would renew each other's leases. The
// default is the host name, the process id and a random suffix
// ("web-1/4242/9f3c2a1b").
func WithHolder(id string) Option {
	return optionFunc(func(c *config) error {
		switch {
		case id == "":
			return fmt.Errorf("WithHolder: the identity is empty")
		case len(id) > MaxHolderLength:
			return fmt.Errorf("WithHolder: the identity is %d bytes long, the maximum is %d", len(id), MaxHolderLength)
		case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
			return fmt.Errorf("WithHolder: the identity %q is not valid UTF-8 without NUL bytes", id)
		}
		c.holder = id
		return nil
	})
}

// newConfig applies opts over the defaults and checks that they fit
// together.
func newConfig(opts []Option) (config, error) {
	c := config{ttl: DefaultTTL, table: DefaultTable}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&c); err != nil {
			return config{}, err
		}
	}
	if c.renew == 0 {
		c.renew = c.ttl / defaultRenewDivisor
	}
	if !c.marginSet {
		c.margin = c.ttl / defaultMarginDivisor
	}
	if c.margin >= c.ttl {
		return config{}, fmt.Errorf("WithSafetyMargin: %v is not shorter than the TTL %v", c.margin, c.ttl)
	}
	if window := c.ttl - c.margin; 2*c.renew > window {
		return config{}, fmt.Errorf("WithRenewInterval: %v is too long for the TTL %v and safety margin %v: the interval may be at most (TTL - margin)/2 = %v", c.renew, c.ttl, c.margin, window/2)
	}
	if c.holder == "" {
		c.holder = defaultHolder()
	}
	return c, nil
}

func defaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), randomSuffix())
}
