package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// startupReport is -mode startup's JSON: how long kleidi takes from being
// started (fork+exec) to answering its first Status with healthz "ok", the
// moment a starting apiserver can prime. socket_ms is when the socket file
// appeared; kleidi creates it only after its first backend refresh.
type startupReport struct {
	Mode      string    `json:"mode"`
	Backend   string    `json:"backend"`
	Repeat    int       `json:"repeat"`
	SamplesMs []float64 `json:"samples_ms"`
	SocketMs  []float64 `json:"socket_ms"`
	MedianMs  float64   `json:"median_ms"`
	MinMs     float64   `json:"min_ms"`
	MaxMs     float64   `json:"max_ms"`
}

// startupPoll is how often the socket file is looked for. A tighter loop would
// take CPU from the process being timed on a small machine.
const startupPoll = 2 * time.Millisecond

func runStartup(s *suite) error {
	o := s.opts
	rep := startupReport{Mode: "startup", Backend: o.backend, Repeat: o.repeat}
	socket := filepath.Join(o.workDir, "startup.sock")
	for i := 0; i < o.repeat; i++ {
		_ = os.Remove(socket) // so the poll below cannot see a previous run's file
		k := s.newKleidi(fmt.Sprintf("startup-%d", i+1), socket)
		t0 := time.Now()
		if err := k.spawn(); err != nil {
			return err
		}
		sock, ready, err := k.timeToReady(t0, 30*time.Second)
		if _, stopErr := k.stop(syscall.SIGTERM, 15*time.Second); err == nil {
			err = stopErr
		}
		if err != nil {
			return err
		}
		rep.SamplesMs = append(rep.SamplesMs, ms(ready))
		rep.SocketMs = append(rep.SocketMs, ms(sock))
	}
	sorted := append([]float64(nil), rep.SamplesMs...)
	sort.Float64s(sorted)
	rep.MinMs, rep.MaxMs = sorted[0], sorted[len(sorted)-1]
	rep.MedianMs = sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		rep.MedianMs = round((sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// timeToReady returns when the socket file appeared and when Status first
// answered healthz "ok", both measured from t0.
func (k *kleidi) timeToReady(t0 time.Time, limit time.Duration) (socket, ready time.Duration, err error) {
	deadline := t0.Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if !k.running() {
			return 0, 0, fmt.Errorf("%s exited during startup (%s)\n%s", k.name, k.cmd.ProcessState, k.logTail())
		}
		if socket == 0 {
			if _, statErr := os.Stat(k.socket); statErr != nil {
				time.Sleep(startupPoll)
				continue
			}
			socket = time.Since(t0)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := rawStatus(ctx, k.socket)
		cancel()
		if err == nil && st.Healthz == "ok" {
			return socket, time.Since(t0), nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("healthz %q", st.Healthz)
		}
		time.Sleep(startupPoll)
	}
	return 0, 0, fmt.Errorf("%s not ready after %v: %v\n%s", k.name, limit, last, k.logTail())
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds()) / 1000) }
