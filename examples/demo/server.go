package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sourcegraph/log"
)

// httpServer serves HTTP on a listener as a goroutine.BackgroundRoutine,
// so the monitor stops it together with the routines it shows.
type httpServer struct {
	srv             *http.Server
	ln              net.Listener
	shutdownTimeout time.Duration
	logger          log.Logger

	mu               sync.Mutex
	started, stopped bool
	done             chan struct{} // closed when Start returns
}

func newHTTPServer(ln net.Listener, h http.Handler, shutdownTimeout time.Duration) *httpServer {
	return &httpServer{
		srv:             &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		ln:              ln,
		shutdownTimeout: shutdownTimeout,
		logger:          log.Scoped("demo.http"),
		done:            make(chan struct{}),
	}
}

func (s *httpServer) Name() string { return "http-server" }

// Start serves until Stop; it returns at once if Stop came first.
func (s *httpServer) Start() {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.mu.Unlock()
	defer close(s.done)
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		s.logger.Error("HTTP server failed", log.Error(err))
	}
}

// Stop closes the listener, waits up to the shutdown timeout for requests
// in flight, then closes what is left and waits for Start to return.
func (s *httpServer) Stop() {
	s.mu.Lock()
	s.stopped = true
	started := s.started
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.logger.Warn("HTTP server did not shut down gracefully", log.Error(err))
		_ = s.srv.Close()
	}
	if !started {
		_ = s.ln.Close()
		return
	}
	<-s.done
}
