package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	kmsservice "k8s.io/kms/pkg/service"
)

type loadReport struct {
	Mode        string              `json:"mode"`
	Client      string              `json:"client"`
	Backend     string              `json:"backend"`
	Op          string              `json:"op"`
	Concurrency int                 `json:"concurrency"`
	DurationS   float64             `json:"duration_s"`
	TotalPerS   float64             `json:"total_throughput_per_s"` // successful calls of all ops
	Ops         map[string]*opStats `json:"ops"`
}

// worker keeps its own samples so the hot loop takes no lock.
type worker struct {
	lat  map[string][]time.Duration
	errs map[string]int
	err  error
}

// dialTarget connects the apiserver's own client to the -attach socket, or to
// the kleidi this harness starts when none is given (load, storm modes).
func (s *suite) dialTarget(ctx context.Context) (kmsservice.Service, error) {
	socket := strings.TrimPrefix(s.opts.attach, "unix://")
	if socket == "" {
		if err := s.ensureUp(); err != nil {
			return nil, err
		}
		socket = s.primary.socket
	}
	return kmsv2.NewGRPCService(ctx, "unix://"+socket, providerName, s.opts.timeout)
}

// runLoad drives kleidi through the apiserver's own client (kmsv2.NewGRPCService:
// WaitForReady, per-call timeout, metrics interceptor) with 32-byte seeds, the
// size the apiserver sends. Each caller loops until the duration is over.
func runLoad(s *suite) error {
	o := s.opts
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := s.dialTarget(ctx)
	if err != nil {
		return err
	}
	// One ciphertext made up front serves -op decrypt.
	seed := randomSeed()
	fixed, err := svc.Encrypt(ctx, "conformance-load-warmup", seed)
	if err != nil {
		return fmt.Errorf("warm-up Encrypt: %w", err)
	}
	workers := make([]*worker, o.concurrency)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{lat: map[string][]time.Duration{}, errs: map[string]int{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				w.iteration(ctx, svc, o.op, seed, fixed)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	report := loadReport{Mode: "load", Client: clientVersion(), Backend: o.backend, Op: o.op,
		Concurrency: o.concurrency, DurationS: round(elapsed.Seconds()), Ops: map[string]*opStats{}}
	for _, op := range []string{"encrypt", "decrypt"} {
		if st := merge(workers, op, elapsed); st != nil {
			report.Ops[op] = st
			report.TotalPerS = round(report.TotalPerS + st.PerSecond)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		return err
	}
	for op, st := range report.Ops {
		if st.Errors > 0 {
			return fmt.Errorf("%d %s calls failed, first: %s", st.Errors, op, st.FirstError)
		}
	}
	return nil
}

func (w *worker) iteration(ctx context.Context, svc kmsservice.Service, op string, seed []byte, fixed *kmsservice.EncryptResponse) {
	resp, plain := fixed, seed
	if op != "decrypt" {
		plain = randomSeed()
		t0 := time.Now()
		r, err := svc.Encrypt(ctx, "conformance-load", plain)
		if !w.record("encrypt", time.Since(t0), err) {
			return
		}
		resp = r
	}
	if op == "encrypt" {
		return
	}
	t0 := time.Now()
	out, err := svc.Decrypt(ctx, "conformance-load", &kmsservice.DecryptRequest{
		Ciphertext: resp.Ciphertext, KeyID: resp.KeyID, Annotations: resp.Annotations})
	if err == nil && !bytes.Equal(out, plain) {
		err = fmt.Errorf("Decrypt returned other bytes than were encrypted")
	}
	w.record("decrypt", time.Since(t0), err)
}

func (w *worker) record(op string, d time.Duration, err error) bool {
	if err != nil {
		w.errs[op]++
		if w.err == nil {
			w.err = fmt.Errorf("%s: %w", op, err)
		}
		return false
	}
	w.lat[op] = append(w.lat[op], d)
	return true
}

func randomSeed() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}
