// Package fleettest holds the multi-process tests of the PostgreSQL
// Elector: a fleet of replicas, each a separate OS process (the test
// binary run again in replica mode), runs one singleton routine
// (goroutine.WithLeaderElection) whose handler writes each run to a runs
// table, fenced with Elector.Fence. The tests kill, freeze and cut off the
// leader, restart the database and the whole fleet, and check from the
// runs table that at most one replica ran at a time, at most once per
// interval, and that leadership moved on within the documented bound.
//
// The package has no code of its own; its tests run against a throwaway
// server (internal/pgtest) and are skipped, with a printed reason, when
// the PostgreSQL binaries are missing (they fail under CI=true).
package fleettest
