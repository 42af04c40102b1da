// Command loadgen is the reliability campaign's client. It talks to kleidi
// through kube-apiserver's own KMSv2 client, kmsv2.NewGRPCService from
// k8s.io/apiserver v0.35.10 (the version the conformance harness pins, so the
// same WaitForReady, per-call deadline and interceptors), and keeps the
// evidence the campaign's invariants are computed from:
//
//	-mode load    Encrypt a fresh 32-byte seed, Decrypt it, and every -old-every
//	              iterations Decrypt a random earlier ciphertext, until SIGTERM.
//	              Every call becomes one CSV line (start, end, op, code, deadline
//	              seen: when this process saw the call's own deadline pass, 0 if
//	              the call ended first); every
//	              Encrypt that returned OK is appended to the journal (seed,
//	              ciphertext, key_id, annotations), so it can be checked later.
//	-mode verify  Decrypt every journal entry and compare with its seed.
//
// A Decrypt that returns OK with other bytes than were encrypted is recorded
// with code WRONG. stdout carries one JSON summary; nothing else.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	"k8s.io/klog/v2"
	kmsservice "k8s.io/kms/pkg/service"
)

type options struct {
	mode        string
	socket      string
	timeout     time.Duration
	journal     string
	calls       string
	concurrency int
	rate        float64
	oldEvery    int
	retries     int
	klogFile    string
	preload     string
}

// entry is one Encrypt that returned OK: what must decrypt forever after.
type entry struct {
	T           int64             `json:"t"`
	Seed        string            `json:"seed"` // hex; a test seed, never a real one
	Ciphertext  []byte            `json:"ct"`
	KeyID       string            `json:"kid"`
	Annotations map[string][]byte `json:"ann"`
}

func main() {
	o := options{}
	flag.StringVar(&o.mode, "mode", "load", "load | verify")
	flag.StringVar(&o.socket, "socket", "", "kleidi's socket path (required)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Second, "per-call deadline (the EncryptionConfiguration timeout; apiserver default 3s)")
	flag.StringVar(&o.journal, "journal", "", "load: append OK Encrypts here; verify: comma-separated journals to check")
	flag.StringVar(&o.calls, "calls", "", "load: CSV of every call (start_ms,end_ms,op,code)")
	flag.IntVar(&o.concurrency, "concurrency", 4, "concurrent callers")
	flag.Float64Var(&o.rate, "rate", 100, "load: iterations per second over all callers (0 = as fast as possible)")
	flag.IntVar(&o.oldEvery, "old-every", 3, "load: also decrypt a random earlier ciphertext every N iterations (0 = never)")
	flag.IntVar(&o.retries, "retries", 5, "verify: attempts per entry for transient codes")
	flag.StringVar(&o.klogFile, "klog", "", "where the apiserver client's klog output goes (default: discarded)")
	flag.StringVar(&o.preload, "preload", "", "load: comma-separated earlier journals whose entries join the old-ciphertext pool")
	flag.Parse()
	if o.socket == "" || o.journal == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -socket and -journal are required")
		os.Exit(2)
	}
	quietKlog(o.klogFile)
	var err error
	switch o.mode {
	case "load":
		err = runLoad(o)
	case "verify":
		err = runVerify(o)
	default:
		err = fmt.Errorf("unknown -mode %q", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// quietKlog keeps the apiserver client's logging out of stdout/stderr.
func quietKlog(file string) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	if file == "" {
		klog.SetOutput(discard{})
		return
	}
	if f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		klog.SetOutput(f)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func newService(ctx context.Context, o options) (kmsservice.Service, error) {
	return kmsv2.NewGRPCService(ctx, "unix://"+o.socket, "kleidi", o.timeout)
}

// codeName is the gRPC code of a call's outcome: OK, a status code name, or WRONG.
func codeName(err error) string {
	if err == nil {
		return "OK"
	}
	if errors.Is(err, errWrong) {
		return "WRONG"
	}
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return codes.DeadlineExceeded.String()
	}
	return "NON_GRPC"
}

var errWrong = errors.New("decrypt returned other bytes than were encrypted")

// sink serialises appends to a file and flushes it often, so the campaign can read progress.
type sink struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func openSink(path string) (*sink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &sink{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *sink) line(b []byte) {
	s.mu.Lock()
	s.w.Write(b)
	s.w.WriteByte('\n')
	s.mu.Unlock()
}

func (s *sink) flush() {
	s.mu.Lock()
	s.w.Flush()
	s.mu.Unlock()
}

func (s *sink) close() {
	s.flush()
	s.f.Close()
}

type loadSummary struct {
	Mode       string                    `json:"mode"`
	DurationS  float64                   `json:"duration_s"`
	Iterations int64                     `json:"iterations"`
	Codes      map[string]map[string]int `json:"codes"` // op → code → count
	Wrong      int64                     `json:"wrong"`
	Journaled  int64                     `json:"journaled"`
}

func runLoad(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := newService(ctx, o)
	if err != nil {
		return err
	}
	journal, err := openSink(o.journal)
	if err != nil {
		return err
	}
	defer journal.close()
	var calls *sink
	if o.calls != "" {
		if calls, err = openSink(o.calls); err != nil {
			return err
		}
		defer calls.close()
	}
	var pool []entry // OK Encrypts (earlier journals and this run), for old-ciphertext Decrypts
	for _, path := range strings.Split(o.preload, ",") {
		if path == "" {
			continue
		}
		es, err := readJournal(path)
		if err != nil {
			return err
		}
		pool = append(pool, es...)
	}
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; close(stop) }()
	go func() { // flush often: the campaign reads the files while the load runs
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				journal.flush()
				if calls != nil {
					calls.flush()
				}
			}
		}
	}()

	var (
		mu        sync.Mutex
		counts    = map[string]map[string]int{}
		iter      atomic.Int64
		wrong     atomic.Int64
		journaled atomic.Int64
	)
	record := func(op string, c timedCall) {
		code := codeName(c.err)
		mu.Lock()
		if counts[op] == nil {
			counts[op] = map[string]int{}
		}
		counts[op][code]++
		mu.Unlock()
		if code == "WRONG" {
			wrong.Add(1)
		}
		if calls != nil {
			var seen int64
			if !c.deadlineSeen.IsZero() {
				seen = c.deadlineSeen.UnixMilli()
			}
			calls.line(fmt.Appendf(nil, "%d,%d,%s,%s,%d", c.start.UnixMilli(), c.end.UnixMilli(), op, code, seen))
		}
	}
	var period time.Duration
	if o.rate > 0 {
		period = time.Duration(float64(o.concurrency) / o.rate * float64(time.Second))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			next := time.Now().Add(time.Duration(w) * period / time.Duration(max(o.concurrency, 1)))
			for {
				if period > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-stop:
							return
						case <-time.After(d):
						}
					}
					// After a stall (an outage), do not burst to catch up.
					next = maxTime(next.Add(period), time.Now())
				}
				select {
				case <-stop:
					return
				default:
				}
				n := iter.Add(1)
				seed := randomSeed()
				var resp *kmsservice.EncryptResponse
				enc := call(ctx, o.timeout, func(ctx context.Context) (err error) {
					resp, err = svc.Encrypt(ctx, fmt.Sprintf("reliability-%d", n), seed)
					return err
				})
				record("encrypt", enc)
				if enc.err == nil {
					e := entry{T: enc.start.UnixMilli(), Seed: hex.EncodeToString(seed), Ciphertext: resp.Ciphertext,
						KeyID: resp.KeyID, Annotations: resp.Annotations}
					b, _ := json.Marshal(e)
					journal.line(b)
					journaled.Add(1)
					mu.Lock()
					pool = append(pool, e)
					mu.Unlock()
					record("decrypt", call(ctx, o.timeout, func(ctx context.Context) error { return decryptCheck(ctx, svc, e) }))
				}
				if o.oldEvery > 0 && n%int64(o.oldEvery) == 0 {
					mu.Lock()
					var old *entry
					if len(pool) > 0 {
						e := pool[mrand.IntN(len(pool))]
						old = &e
					}
					mu.Unlock()
					if old != nil {
						record("decrypt-old", call(ctx, o.timeout, func(ctx context.Context) error { return decryptCheck(ctx, svc, *old) }))
					}
				}
			}
		}(w)
	}
	wg.Wait()
	sum := loadSummary{Mode: "load", DurationS: time.Since(start).Seconds(), Iterations: iter.Load(),
		Codes: counts, Wrong: wrong.Load(), Journaled: journaled.Load()}
	return json.NewEncoder(os.Stdout).Encode(sum)
}

// timedCall is one call as this client saw it.
type timedCall struct {
	start, end time.Time
	// deadlineSeen is when this process saw the call's own deadline pass (zero if the call
	// ended first). On a starved machine the client notices its deadline late, and the call
	// returns late with it: the campaign must not count that against kleidi.
	deadlineSeen time.Time
	err          error
}

// call runs fn under the caller's own deadline, start + timeout, as kube-apiserver's client
// sets it (kmsv2.NewGRPCService applies the same timeout inside; this context's deadline comes
// first by microseconds), and notes when the deadline was seen to pass.
func call(ctx context.Context, timeout time.Duration, fn func(context.Context) error) timedCall {
	c := timedCall{start: time.Now()}
	cctx, cancel := context.WithDeadline(ctx, c.start.Add(timeout))
	done := make(chan struct{})
	stop := context.AfterFunc(cctx, func() {
		c.deadlineSeen = time.Now()
		close(done)
	})
	c.err = fn(cctx)
	c.end = time.Now()
	if !stop() { // the deadline fired (or the load is stopping): wait for its timestamp
		<-done
	}
	cancel()
	if cctx.Err() != context.DeadlineExceeded {
		c.deadlineSeen = time.Time{} // ended by the load's own stop, not by the deadline
	}
	return c
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// decryptCheck decrypts e and compares the bytes; a mismatch is errWrong.
func decryptCheck(ctx context.Context, svc kmsservice.Service, e entry) error {
	seed, err := hex.DecodeString(e.Seed)
	if err != nil {
		return err
	}
	out, err := svc.Decrypt(ctx, "reliability-decrypt", &kmsservice.DecryptRequest{
		Ciphertext: e.Ciphertext, KeyID: e.KeyID, Annotations: e.Annotations})
	if err != nil {
		return err
	}
	if !bytes.Equal(out, seed) {
		return errWrong
	}
	return nil
}

func randomSeed() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

type verifySummary struct {
	Mode     string         `json:"mode"`
	Entries  int            `json:"entries"`
	OK       int            `json:"ok"`
	Lost     int            `json:"lost"`  // never decrypted, after all retries
	Wrong    int            `json:"wrong"` // decrypted to other bytes
	Retried  int            `json:"retried"`
	Codes    map[string]int `json:"codes"` // final outcome per entry
	KeyIDs   map[string]int `json:"key_ids"`
	Failures []string       `json:"failures,omitempty"` // first few, without seeds
}

func runVerify(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var entries []entry
	for _, path := range strings.Split(o.journal, ",") {
		if path == "" {
			continue
		}
		es, err := readJournal(path)
		if err != nil {
			return err
		}
		entries = append(entries, es...)
	}
	svc, err := newService(ctx, o)
	if err != nil {
		return err
	}
	sum := verifySummary{Mode: "verify", Entries: len(entries), Codes: map[string]int{}, KeyIDs: map[string]int{}}
	var mu sync.Mutex
	work := make(chan entry)
	var wg sync.WaitGroup
	for w := 0; w < max(o.concurrency, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				var err error
				retried := 0
				for attempt := 1; ; attempt++ {
					err = decryptCheck(ctx, svc, e)
					c := codeName(err)
					transient := c == "Unavailable" || c == "DeadlineExceeded" || c == "ResourceExhausted"
					if !transient || attempt >= o.retries {
						break
					}
					retried++
					time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
				}
				code := codeName(err)
				mu.Lock()
				sum.Codes[code]++
				sum.KeyIDs[e.KeyID]++
				sum.Retried += retried
				switch code {
				case "OK":
					sum.OK++
				case "WRONG":
					sum.Wrong++
				default:
					sum.Lost++
				}
				if code != "OK" && len(sum.Failures) < 5 {
					sum.Failures = append(sum.Failures, fmt.Sprintf("key_id %s written at %d: %s: %v", e.KeyID, e.T, code, err))
				}
				mu.Unlock()
			}
		}()
	}
	for _, e := range entries {
		work <- e
	}
	close(work)
	wg.Wait()
	sort.Strings(sum.Failures)
	return json.NewEncoder(os.Stdout).Encode(sum)
}

func readJournal(path string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			// A line cut by SIGKILL of the loadgen itself would be a campaign bug, not kleidi's.
			return nil, fmt.Errorf("%s: bad journal line: %w", path, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

var _ = base64.StdEncoding // []byte fields are base64 in JSON
