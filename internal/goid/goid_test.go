package goid

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGet_IsStablePerGoroutineAndDistinctAcrossThem(t *testing.T) {
	here := Get()
	if here == 0 {
		t.Fatal("Get() = 0 on the test goroutine")
	}
	if again := Get(); again != here {
		t.Errorf("Get() changed on one goroutine: %d then %d", here, again)
	}
	other := make(chan uint64)
	go func() { other <- Get() }()
	if id := <-other; id == 0 || id == here {
		t.Errorf("another goroutine's id = %d, this one's = %d: want distinct non-zero ids", id, here)
	}
}
