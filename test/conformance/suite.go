package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/klog/v2"
)

// suite is the state shared by the scenarios: the kleidi processes the
// harness started, the current "apiserver" and the values it has written.
type suite struct {
	opts     *options
	stateDir string // shared by every kleidi node (same keyring file for local)
	primary  *kleidi
	api      *apiServer // the apiserver process currently "running"
	dataset  []*item    // values written so far, with their stored bytes
	obs      *observations
	apiSeq   int

	mu    sync.Mutex
	procs []*kleidi
}

func newSuite(opts *options) (*suite, error) {
	s := &suite{opts: opts, obs: &observations{}, stateDir: filepath.Join(opts.workDir, "state")}
	if err := os.MkdirAll(s.stateDir, 0o700); err != nil {
		return nil, err
	}
	// The apiserver code logs through klog (e.g. "kms plugin failed health
	// check probe" while kleidi is down on purpose); keep it out of the report.
	f, err := os.Create(filepath.Join(opts.workDir, "apiserver-klog.log"))
	if err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL") // errors would otherwise still reach stderr
	klog.SetOutput(f)
	s.primary = s.newKleidi("node-a", filepath.Join(opts.workDir, "node-a.sock"))
	return s, nil
}

// ensureUp starts the primary kleidi if a previous scenario left it stopped.
func (s *suite) ensureUp() error {
	if s.primary.running() {
		return nil
	}
	return s.primary.start()
}

// ensureAPI returns the running apiserver, loading one if there is none.
func (s *suite) ensureAPI() (*apiServer, error) {
	if err := s.ensureUp(); err != nil {
		return nil, err
	}
	if s.api == nil {
		a, err := s.loadAPIServer(s.primary.socket)
		if err != nil {
			return nil, err
		}
		s.api = a
	}
	return s.api, nil
}

// replaceAPI "restarts the apiserver": the old one's context is cancelled,
// which stops its poll goroutines and closes its gRPC connection.
func (s *suite) replaceAPI() (*apiServer, error) {
	if s.api != nil {
		s.api.close()
		s.api = nil
	}
	return s.ensureAPI()
}

// ensureDataset gives scenarios that only read (run alone with -run) data to read.
func (s *suite) ensureDataset() error {
	if len(s.dataset) > 0 {
		return nil
	}
	a, err := s.ensureAPI()
	if err != nil {
		return err
	}
	items := makeDataset(s.opts.values, "base")
	if err := writeAll(a, items); err != nil {
		return err
	}
	s.dataset = items
	return nil
}

func (s *suite) nextAPIName() string {
	s.apiSeq++
	return fmt.Sprintf("apiserver-%d", s.apiSeq)
}

// cleanup kills every kleidi the harness started; safe to call twice.
func (s *suite) cleanup() {
	if s.api != nil {
		s.api.close()
	}
	s.mu.Lock()
	procs := append([]*kleidi(nil), s.procs...)
	s.mu.Unlock()
	for _, k := range procs {
		k.kill()
	}
}

func logf(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }
