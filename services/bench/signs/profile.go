package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"time"
)

// profiler fetches a hub's pprof profiles (the hub serves net/http/pprof on addr when
// BENCH_PPROF_ADDR is set) into dir, named after the hub and the phase. The zero profiler
// (no -profile) does nothing.
type profiler struct {
	dir, kind, addr string
	perf            bool // record the machine during each phase too (perf record -a)
}

// env is the environment variable that makes a hub serve pprof, or nothing.
func (p profiler) env() []string {
	if p.dir == "" {
		return nil
	}
	return []string{"BENCH_PPROF_ADDR=" + p.addr}
}

// snapshot saves the hub's heap and goroutine profiles now, as <kind>-<name>-heap.pb.gz and
// <kind>-<name>-goroutine.txt.
func (p profiler) snapshot(name string) {
	if p.dir == "" {
		return
	}
	p.fetch("/debug/pprof/heap?gc=1", fmt.Sprintf("%s-%s-heap.pb.gz", p.kind, name))
	p.fetch("/debug/pprof/goroutine?debug=1", fmt.Sprintf("%s-%s-goroutine.txt", p.kind, name))
}

// cpu starts a CPU profile of d in the background (into <kind>-<name>-cpu.pb.gz) and returns
// a function that waits for it.
func (p profiler) cpu(name string, d time.Duration) func() {
	if p.dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), fmt.Sprintf("%s-%s-cpu.pb.gz", p.kind, name))
	}()
	time.Sleep(50 * time.Millisecond) // the profile has started
	return func() { <-done }
}

func (p profiler) fetch(path, name string) {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-signs: profile %s: %v\n", name, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(p.dir, name))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-signs: profile %s: %v\n", name, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		fmt.Fprintf(os.Stderr, "bench-signs: profile %s: %v\n", name, err)
	}
}

// phase returns what runPhase calls before its trigger: it starts a 3 s CPU profile of the
// hub and one of this process (the signs' side, <kind>-<name>-signs-cpu.pb.gz), named after
// the phase, and returns the wait for both.
func (p profiler) phase(name string) func() func() {
	return func() func() {
		hub := p.cpu(name, 3*time.Second)
		self := p.self(name + "-signs")
		machine := p.machine(name, 2*time.Second)
		return func() { hub(); self(); machine() }
	}
}

// self profiles this process until the returned function is called.
func (p profiler) self(name string) func() {
	if p.dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("%s-%s-cpu.pb.gz", p.kind, name)))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-signs: profile %s: %v\n", name, err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// machine records every process of the machine, kernel included, for d with perf (-perf) into
// <kind>-<name>.perf.data, so that the CPU the hub shares with the signs, Postgres, the broker
// and pricing can be told apart (perf report --sort comm,dso -i ...). It returns the wait for
// the recording.
func (p profiler) machine(name string, d time.Duration) func() {
	if p.dir == "" || !p.perf {
		return func() {}
	}
	out := filepath.Join(p.dir, fmt.Sprintf("%s-%s.perf.data", p.kind, name))
	cmd := exec.Command("perf", "record", "-a", "-g", "-F", "1999", "-o", out, "--", "sleep", fmt.Sprint(d.Seconds()))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-signs: perf %s: %v\n", name, err)
		return func() {}
	}
	time.Sleep(500 * time.Millisecond) // perf has read the kernel's symbols and opened its events
	return func() {
		if err := cmd.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "bench-signs: perf %s: %v: %s\n", name, err, stderr.Bytes())
		}
	}
}
