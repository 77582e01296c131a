// Package errtext reads the text of errors a user's code returned, which
// may be hostile: a typed-nil pointer whose Error method dereferences it,
// an Error method that panics, or a message of megabytes.
package errtext

import (
	"fmt"
	"reflect"
	"unicode/utf8"
)

// BrokenError replaces an error whose Error method panicked. Its own Error
// never panics and names the original's type.
type BrokenError struct {
	// Type is the Go type of the original error, e.g. "*main.myErr".
	Type string
	// Nil reports whether the original was a nil pointer (a typed nil).
	Nil bool
	// Panic is the value the original's Error method panicked with.
	Panic any
}

func (e *BrokenError) Error() string {
	if e.Nil {
		return fmt.Sprintf("typed-nil error %s returned (its Error method panicked: %v)", e.Type, e.Panic)
	}
	return fmt.Sprintf("error of type %s whose Error method panicked: %v", e.Type, e.Panic)
}

// Safe returns err and its text when err.Error() does not panic, and a
// *BrokenError and its text when it does. A nil err gives nil and "".
func Safe(err error) (safe error, text string) {
	if err == nil {
		return nil, ""
	}
	text, p, panicked := errorText(err)
	if !panicked {
		return err, text
	}
	b := &BrokenError{Type: fmt.Sprintf("%T", err), Panic: p}
	if v := reflect.ValueOf(err); v.Kind() == reflect.Pointer && v.IsNil() {
		b.Nil = true
	}
	return b, b.Error()
}

func errorText(err error) (text string, p any, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			p, panicked = v, true
		}
	}()
	return err.Error(), nil, false
}

// Truncate returns s when it is at most max bytes long, else its first
// bytes, cut at a UTF-8 boundary, followed by a note of how many bytes were
// cut. The result is at most max bytes plus the note (under 40 bytes).
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… [%d bytes cut]", s[:cut], len(s)-cut)
}
