package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// multiFlag collects a repeatable flag (-env A=1 -env B=2).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	mode    string
	workDir string
	// kleidi is the command that runs kleidi, split on spaces
	// ("node /repo/dist/main.js"); subcommands are appended to it.
	kleidi    []string
	backend   string
	serveArgs multiFlag // extra args for `kleidi serve` (backend settings)
	env       multiFlag // extra KEY=VALUE for every kleidi process, also rotate
	nodeBEnv  multiFlag // KEY=VALUE for the two-node scenario's node-b only, after -env (a node of its own)
	rotateCmd string    // shell command that adds a new current KEK
	refresh   string    // kleidi serve --refresh-interval
	timeout   time.Duration
	values    int
	run       *regexp.Regexp
	summary   string // JSON {passed, failed, ...} for scripts/summarize-tests.mjs

	// load mode
	attach      string
	concurrency int
	duration    time.Duration
	op          string

	// startup mode
	repeat int
	// storm mode
	seeds        int
	stormFile    string
	stormPrepare bool
	stormCallers int
}

// defaultRotate works for every backend whose settings come from -env
// (KLEIDI_* variables or KLEIDI_CONFIG), because `kleidi rotate` acts on
// whichever backend is configured.
const defaultRotate = `$CONFORMANCE_KLEIDI rotate --backend "$CONFORMANCE_BACKEND" --state-dir "$CONFORMANCE_STATE_DIR"`

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "conformance", "conformance | load | startup | storm")
	fs.StringVar(&o.workDir, "work-dir", "", "scratch directory for sockets, state, logs (required; created if missing)")
	kleidi := fs.String("kleidi", "node dist/main.js", "command that runs kleidi (split on spaces)")
	fs.StringVar(&o.backend, "backend", "local", "backend under test (a registered backend name), passed as --backend to serve and rotate (settings via -env, e.g. KLEIDI_CONFIG=file)")
	fs.Var(&o.serveArgs, "serve-arg", "extra argument for `kleidi serve` (repeatable)")
	fs.Var(&o.env, "env", "extra KEY=VALUE for kleidi serve and rotate (repeatable)")
	fs.Var(&o.nodeBEnv, "node-b-env", "KEY=VALUE for the two-node scenario's node-b only, overriding -env (repeatable)")
	fs.StringVar(&o.rotateCmd, "rotate-cmd", defaultRotate, "sh command that rotates the KEK; sees $CONFORMANCE_KLEIDI, $CONFORMANCE_BACKEND, $CONFORMANCE_STATE_DIR")
	fs.StringVar(&o.refresh, "refresh-interval", "1s", "kleidi serve --refresh-interval")
	// 3s is the apiserver's default KMS timeout (encryptionconfig defaultTimeout, apis/apiserver/v1/defaults.go).
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "KMS provider timeout in the EncryptionConfiguration")
	fs.IntVar(&o.values, "values", 200, "values written in write-read")
	run := fs.String("run", "", "regexp: run only matching scenarios")
	fs.StringVar(&o.summary, "summary", "", "write a JSON summary {passed, failed, failedScenarios, ...} to this file")
	fs.StringVar(&o.attach, "attach", "", "load mode: unix socket of an already running kleidi (default: start one)")
	fs.IntVar(&o.concurrency, "concurrency", 8, "load mode: concurrent callers")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "load mode: how long to run")
	fs.StringVar(&o.op, "op", "mixed", "load mode: mixed (Encrypt then Decrypt) | encrypt | decrypt")
	fs.IntVar(&o.repeat, "repeat", 3, "startup mode: how many times to start kleidi")
	fs.IntVar(&o.seeds, "seeds", 1000, "storm mode: distinct seeds to encrypt (-storm-prepare) and decrypt")
	fs.StringVar(&o.stormFile, "storm-file", "", "storm mode: JSON file of wrapped seeds (written by -storm-prepare, read otherwise)")
	fs.BoolVar(&o.stormPrepare, "storm-prepare", false, "storm mode: encrypt -seeds seeds and write -storm-file instead of decrypting")
	fs.IntVar(&o.stormCallers, "storm-callers", 0, "storm mode: concurrent callers for the decrypt storm (0: one per seed, all at once)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.kleidi = strings.Fields(*kleidi)
	switch {
	case o.workDir == "":
		return nil, errors.New("-work-dir is required")
	case len(o.kleidi) == 0 && o.attach == "":
		return nil, errors.New("-kleidi is empty")
	case o.mode != "conformance" && o.mode != "load" && o.mode != "startup" && o.mode != "storm":
		return nil, fmt.Errorf("unknown -mode %q", o.mode)
	case o.op != "mixed" && o.op != "encrypt" && o.op != "decrypt":
		return nil, fmt.Errorf("unknown -op %q", o.op)
	case o.values < 2:
		return nil, errors.New("-values must be at least 2")
	case o.mode == "startup" && (o.attach != "" || o.repeat < 1):
		return nil, errors.New("-mode startup starts kleidi itself (no -attach) and needs -repeat >= 1")
	case o.mode == "storm" && (o.stormFile == "" || o.seeds < 1 || o.stormCallers < 0):
		return nil, errors.New("-mode storm needs -storm-file, -seeds >= 1 and -storm-callers >= 0")
	}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			return nil, fmt.Errorf("-run: %w", err)
		}
		o.run = re
	}
	for _, kv := range append(append([]string{}, o.env...), o.nodeBEnv...) {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("-env/-node-b-env %q is not KEY=VALUE", kv)
		}
	}
	if err := os.MkdirAll(o.workDir, 0o700); err != nil {
		return nil, err
	}
	return o, nil
}
