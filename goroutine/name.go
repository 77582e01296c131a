package goroutine

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxNameLength is the longest routine name accepted, in bytes.
const MaxNameLength = 128

var (
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9 _.:/-]*[A-Za-z0-9_.:/-])?$`)
	namespaceRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// ValidateName reports whether name can name a routine. A name is used as a
// Prometheus label value, in the span name routine.<name> and in logs, so
// it is kept readable and safe for all three: 1 to MaxNameLength ASCII
// letters, digits, spaces and the characters _ . : / -, starting with a
// letter or digit and not ending in a space. "this is my cool handler" and
// "billing.invoice-sync" are valid.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("name %.20q... is %d bytes long, the maximum is %d", name, len(name), MaxNameLength)
	case !nameRE.MatchString(name):
		for i, r := range name {
			if !isNameRune(r) {
				return fmt.Errorf("name %q has invalid character %q at byte %d: use ASCII letters, digits, space and _.:/-", name, r, i)
			}
		}
		return fmt.Errorf("name %q must start with a letter or digit and not end with a space", name)
	}
	return nil
}

func isNameRune(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" _.:/-", r))
}
