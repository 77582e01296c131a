package main

import (
	"strings"
	"testing"
)

func TestParseAndMedian(t *testing.T) {
	const out = `goos: linux
goarch: amd64
cpu: Some CPU
BenchmarkInvocation/variant=bare/result=ok-2   	1000	3.0 ns/op	0 B/op	0 allocs/op
BenchmarkInvocation/variant=bare/result=ok-2   	1000	1.0 ns/op	0 B/op	0 allocs/op
BenchmarkInvocation/variant=bare/result=ok-2   	1000	2.0 ns/op	0 B/op	0 allocs/op
BenchmarkScale/lib=robfig-2 	1	3.5 KiB/routine	10 start-ms
PASS
`
	r, env, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if env["cpu"] != "Some CPU" {
		t.Errorf("cpu = %q", env["cpu"])
	}
	if m, _ := r.Median(inv("bare", "ok"), "ns/op"); m != 2 {
		t.Errorf("median ns/op = %v, want 2", m)
	}
	if m, _ := r.Median("BenchmarkScale/lib=robfig", "KiB/routine"); m != 3.5 {
		t.Errorf("KiB/routine = %v, want 3.5", m)
	}
	if _, ok := r.Median("BenchmarkNope", "ns/op"); ok {
		t.Error("Median of a missing benchmark reported a value")
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{1234567: "1,234,567", -1500: "-1,500", 123.4: "123", 12.34: "12.3", 1.234: "1.23"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}
