package goroutine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type finalizing struct {
	Handler
	finalized atomic.Int32
}

func (f *finalizing) OnShutdown() { f.finalized.Add(1) }

func TestStop_BeforeStartMakesStartReturnAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &finalizing{Handler: &recorder{}}
		r := f.periodic(t.Context(), "never", time.Minute, h)
		r.Stop()
		r.Stop()
		r.Start() // must not block
		if got := h.Handler.(*recorder).offsets(time.Now()); len(got) != 0 {
			t.Errorf("handler ran %d times after Stop before Start", len(got))
		}
		if got := h.finalized.Load(); got != 1 {
			t.Errorf("OnShutdown called %d times, want 1", got)
		}
		if got := r.Status().State; got != StateStopped {
			t.Errorf("State = %q, want stopped", got)
		}
	})
}

func TestStop_IsIdempotentAndSafeConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &finalizing{Handler: &recorder{}}
		r := f.periodic(t.Context(), "many-stops", time.Minute, h)
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()

		var wg sync.WaitGroup
		for range 10 {
			wg.Go(r.Stop)
		}
		wg.Wait()
		<-returned
		r.Stop()
		if got := h.finalized.Load(); got != 1 {
			t.Errorf("OnShutdown called %d times, want 1", got)
		}
	})
}

func TestStop_CancelsTheHandlerAndWaitsForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var handlerReturned atomic.Bool
		var sawCancel atomic.Bool
		h := &finalizing{Handler: HandlerFunc(func(ctx context.Context) error {
			<-ctx.Done()
			sawCancel.Store(errors.Is(ctx.Err(), context.Canceled))
			time.Sleep(time.Second) // cleanup after cancellation
			handlerReturned.Store(true)
			return nil
		})}
		r := f.periodic(t.Context(), "blocking", time.Minute, h)
		go r.Start()
		synctest.Wait()

		r.Stop()
		if !handlerReturned.Load() {
			t.Error("Stop returned while the handler was still running")
		}
		if !sawCancel.Load() {
			t.Error("handler context was not cancelled by Stop")
		}
		if got := h.finalized.Load(); got != 1 {
			t.Errorf("OnShutdown called %d times after Stop returned, want 1", got)
		}
	})
}

func TestStart_ReturnsWhenTheContextIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(t.Context())
		r := f.periodic(ctx, "ctx-bound", time.Minute, &recorder{})
		returned := make(chan struct{})
		go func() { r.Start(); close(returned) }()
		synctest.Wait()
		cancel()
		<-returned
		if got := f.value(names.Up, "ctx-bound"); got != 0 {
			t.Errorf("%s = %v after the context ended the routine, want 0", names.Up, got)
		}
		r.Stop() // still safe
	})
}

func TestStart_SecondCallWaitsWithoutRunningMoreLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{}
		r := f.periodic(t.Context(), "twice", time.Minute, h)
		var wg sync.WaitGroup
		wg.Go(r.Start)
		wg.Go(r.Start)
		time.Sleep(90 * time.Second)
		synctest.Wait()
		r.Stop()
		wg.Wait()
		if got := len(h.offsets(time.Now())); got != 2 {
			t.Errorf("%d invocations in 90s with two Start calls, want 2 (one loop)", got)
		}
	})
}

func TestStatus_HistoryIsBoundedAndOrdered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		h := &recorder{errs: []error{errors.New("first failure")}}
		r := f.periodic(t.Context(), "history", time.Second, h, WithHistorySize(5), WithDescription("keeps five runs"))
		origin := time.Now()
		run(t, r, 2000*time.Second)

		st := r.Status()
		if len(st.Recent) != 5 {
			t.Fatalf("%d recent runs, want 5", len(st.Recent))
		}
		for i, run := range st.Recent {
			if want := uint64(1997 + i); run.Invocation != want {
				t.Errorf("Recent[%d].Invocation = %d, want %d (oldest first)", i, run.Invocation, want)
			}
			if !run.TraceID.IsValid() {
				t.Errorf("Recent[%d] has no trace id", i)
			}
		}
		if st.Successes != 2000 || st.Errors != 1 || st.LastError != "first failure" || !st.LastErrorAt.Equal(origin) {
			t.Errorf("Status counts = %d ok, %d errors, last %q at %v", st.Successes, st.Errors, st.LastError, st.LastErrorAt)
		}
		if st.HistorySize != 5 || st.LastRun == nil || *st.LastRun != st.Recent[4] {
			t.Errorf("HistorySize = %d, LastRun = %+v, want 5 and the newest run", st.HistorySize, st.LastRun)
		}
		if st.Description != "keeps five runs" || st.State != StateStopped {
			t.Errorf("Status = %+v", st)
		}
	})
}

func TestStatus_LastRunIsKeptWithoutHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		r := f.periodic(t.Context(), "no-history", time.Second, &recorder{}, WithHistorySize(0))
		if r.Status().LastRun != nil {
			t.Fatal("LastRun set before any run")
		}
		run(t, r, 10*time.Second)
		st := r.Status()
		if len(st.Recent) != 0 || st.LastRun == nil || st.LastRun.Invocation != 11 {
			t.Errorf("Recent = %d runs, LastRun = %+v; want none kept and the 11th run last", len(st.Recent), st.LastRun)
		}
	})
}
