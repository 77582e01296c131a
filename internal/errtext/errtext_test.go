package errtext

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ptrErr struct{ msg string }

func (e *ptrErr) Error() string { return e.msg }

type panicking struct{}

func (panicking) Error() string { panic("no message for you") }

func TestSafe(t *testing.T) {
	plain := errors.New("boom")
	if got, text := Safe(plain); got != plain || text != "boom" {
		t.Errorf("Safe(boom) = %v, %q; want the error itself", got, text)
	}
	if got, text := Safe(nil); got != nil || text != "" {
		t.Errorf("Safe(nil) = %v, %q", got, text)
	}

	var typedNil *ptrErr
	got, text := Safe(typedNil)
	var b *BrokenError
	if !errors.As(got, &b) || !b.Nil || b.Type != "*errtext.ptrErr" {
		t.Fatalf("Safe(typed nil) = %#v, want a *BrokenError naming *errtext.ptrErr", got)
	}
	if !strings.Contains(text, "typed-nil error *errtext.ptrErr") {
		t.Errorf("typed-nil text %q does not say what happened", text)
	}

	got, text = Safe(panicking{})
	if !errors.As(got, &b) || b.Nil || b.Panic != "no message for you" {
		t.Fatalf("Safe(panicking) = %#v", got)
	}
	if !strings.Contains(text, "errtext.panicking") || !strings.Contains(text, "no message for you") {
		t.Errorf("text %q does not name the type and the panic", text)
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("Truncate(short) = %q", got)
	}
	long := strings.Repeat("é", 1<<19) // 1 MiB of two-byte runes
	got := Truncate(long, 2048)
	if len(got) > 2048+40 {
		t.Errorf("len = %d, want at most 2048 plus the note", len(got))
	}
	if !utf8.ValidString(got) {
		t.Error("cut inside a rune")
	}
	if !strings.HasSuffix(got, "… [1046528 bytes cut]") {
		t.Errorf("note missing or wrong: ...%q", got[len(got)-40:])
	}
}
