package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	kmsservice "k8s.io/kms/pkg/service"
)

// stormSeed is one wrapped seed in -storm-file ([]byte fields are base64 in JSON).
type stormSeed struct {
	Plaintext   []byte            `json:"plaintext"`
	Ciphertext  []byte            `json:"ciphertext"`
	KeyID       string            `json:"key_id"`
	Annotations map[string][]byte `json:"annotations"`
}

type stormReport struct {
	Mode       string             `json:"mode"`
	Phase      string             `json:"phase"`
	Client     string             `json:"client"`
	Backend    string             `json:"backend"`
	Seeds      int                `json:"seeds"`
	Callers    int                `json:"callers"`
	WallMs     float64            `json:"wall_ms"`
	PerSecond  float64            `json:"throughput_per_s"`
	Errors     int                `json:"errors"`
	FirstError string             `json:"first_error,omitempty"`
	LatencyMs  map[string]float64 `json:"latency_ms,omitempty"`
}

// runStorm models the Decrypts a restarted kube-apiserver sends to fill its
// watch cache: its DEK cache is empty, so every distinct stored DEK seed
// costs one Decrypt. With -storm-prepare it Encrypts -seeds distinct seeds
// and writes them to -storm-file; without, a fresh client (a new
// "apiserver": it primes with Status first, as primeAndProbeKMSv2 does)
// decrypts every seed in the file at once and checks the bytes.
func runStorm(s *suite) error {
	o := s.opts
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := s.dialTarget(ctx)
	if err != nil {
		return err
	}
	rep := stormReport{Mode: "storm", Client: clientVersion(), Backend: o.backend}
	if o.stormPrepare {
		err = stormPrepare(ctx, svc, o, &rep)
	} else {
		err = stormDecrypt(ctx, svc, o, &rep)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if rep.Errors > 0 {
		return fmt.Errorf("%d of %d calls failed, first: %s", rep.Errors, rep.Seeds, rep.FirstError)
	}
	return nil
}

func stormPrepare(ctx context.Context, svc kmsservice.Service, o *options, rep *stormReport) error {
	seeds := make([]stormSeed, o.seeds)
	rep.Phase, rep.Seeds, rep.Callers = "prepare", o.seeds, 16
	var mu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range rep.Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				plain := randomSeed()
				r, err := svc.Encrypt(ctx, "storm-prepare", plain)
				if err != nil {
					mu.Lock()
					rep.Errors++
					if rep.FirstError == "" {
						rep.FirstError = err.Error()
					}
					mu.Unlock()
					continue
				}
				seeds[i] = stormSeed{Plaintext: plain, Ciphertext: r.Ciphertext, KeyID: r.KeyID, Annotations: r.Annotations}
			}
		}()
	}
	for i := range seeds {
		work <- i
	}
	close(work)
	wg.Wait()
	rep.WallMs = ms(time.Since(start))
	if rep.Errors > 0 {
		return nil
	}
	b, err := json.Marshal(seeds)
	if err != nil {
		return err
	}
	return os.WriteFile(o.stormFile, b, 0o600)
}

func stormDecrypt(ctx context.Context, svc kmsservice.Service, o *options, rep *stormReport) error {
	b, err := os.ReadFile(o.stormFile)
	if err != nil {
		return err
	}
	var seeds []stormSeed
	if err := json.Unmarshal(b, &seeds); err != nil {
		return fmt.Errorf("%s: %w", o.stormFile, err)
	}
	if len(seeds) == 0 {
		return fmt.Errorf("%s holds no seeds", o.stormFile)
	}
	// The apiserver primes (Status, then Encrypt) before it serves reads; the
	// connection is up when the storm starts.
	if _, err := svc.Status(ctx); err != nil {
		return fmt.Errorf("prime Status: %w", err)
	}
	callers := o.stormCallers
	if callers == 0 || callers > len(seeds) {
		callers = len(seeds)
	}
	rep.Phase, rep.Seeds, rep.Callers = "decrypt", len(seeds), callers
	lat := make([]time.Duration, len(seeds))
	errs := make([]error, len(seeds))
	next := make(chan int, len(seeds))
	for i := range seeds {
		next <- i
	}
	close(next)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for i := range next {
				sd := seeds[i]
				t0 := time.Now()
				out, err := svc.Decrypt(ctx, "storm", &kmsservice.DecryptRequest{
					Ciphertext: sd.Ciphertext, KeyID: sd.KeyID, Annotations: sd.Annotations})
				lat[i] = time.Since(t0)
				if err == nil && !bytes.Equal(out, sd.Plaintext) {
					err = fmt.Errorf("Decrypt returned other bytes than were encrypted")
				}
				errs[i] = err
			}
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(start)
	var ok []time.Duration
	for i, err := range errs {
		if err != nil {
			rep.Errors++
			if rep.FirstError == "" {
				rep.FirstError = err.Error()
			}
			continue
		}
		ok = append(ok, lat[i])
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	rep.WallMs = ms(wall)
	rep.PerSecond = round(float64(len(ok)) / wall.Seconds())
	rep.LatencyMs = map[string]float64{}
	for name, q := range map[string]float64{"p50": 0.50, "p99": 0.99, "p999": 0.999, "max": 1} {
		rep.LatencyMs[name] = percentile(ok, q)
	}
	return nil
}
