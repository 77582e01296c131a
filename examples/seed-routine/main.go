// Command seed-routine is the original walkthrough of a hand-written
// BackgroundRoutine: it prints a greeting every second until the monitor
// stops it, then prints "done!". It compiles and runs unchanged against
// routinely.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/routinely/routinely/goroutine"
)

type exampleRoutine struct {
	done chan struct{}
}

func (m *exampleRoutine) Start() {
	for {
		select {
		case <-m.done:
			fmt.Println("done!")
			return
		default:
		}

		fmt.Println("Hello there!")
		time.Sleep(1 * time.Second)
	}
}

func (m *exampleRoutine) Stop() {
	m.done <- struct{}{}
}

func main() {
	r := &exampleRoutine{
		done: make(chan struct{}),
	}

	ctx, cancel := context.WithCancel(context.Background())

	go goroutine.MonitorBackgroundRoutines(ctx, r)

	time.Sleep(2 * time.Second)
	cancel()
	time.Sleep(200 * time.Millisecond)
}
