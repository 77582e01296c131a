// Command seed-periodic is the original walkthrough of a PeriodicGoroutine:
// a handler built with NewHandlerWithErrorMessage runs at once and then
// every two minutes under MonitorBackgroundRoutines, until the context is
// cancelled ten seconds later. It compiles and runs unchanged against
// routinely.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/routinely/routinely/goroutine"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())

	h := goroutine.NewHandlerWithErrorMessage("this is my cool handler", func(ctx context.Context) error {
		fmt.Println("Hello from the background!")
		// Talk to the database, send HTTP requests, etc.
		return nil
	})

	routine := goroutine.NewPeriodicGoroutine(ctx, 2*time.Minute, h)

	go goroutine.MonitorBackgroundRoutines(ctx, routine)

	time.Sleep(10 * time.Second)
	cancel()
	time.Sleep(200 * time.Millisecond)
}
