// Command conformance drives a running kleidi exactly as kube-apiserver does.
//
// The client side is not ours: it is the public kube-apiserver code in
// k8s.io/apiserver (encryptionconfig.LoadEncryptionConfig, the kmsv2 envelope
// transformer and kmsv2.NewGRPCService). go.mod pins k8s.io/apiserver v0.35.10
// and k8s.io/kms v0.35.10, i.e. the client code of Kubernetes v1.35.10.
//
// Modes:
//
//	-mode conformance  (default) every scenario, PASS/FAIL per scenario
//	-mode load         Encrypt/Decrypt through NewGRPCService, JSON figures
//	-mode startup      time from starting kleidi to its first healthy Status, JSON
//	-mode storm        many distinct Decrypts at once, as a restarted apiserver asks, JSON
//
// The harness owns kleidi's process lifecycle (it starts, SIGTERMs, SIGKILLs
// and restarts it), so it must be given the command, not a running socket
// (except -mode load/storm -attach).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

type scenario struct {
	name string
	run  func(*suite) error
}

// scenarios run in this order; later ones reuse the data set of earlier ones
// (each creates it itself when run alone with -run).
var scenarios = []scenario{
	{"write-read", scenarioWriteRead},
	{"apiserver-restart", scenarioAPIServerRestart},
	{"plugin-restart", scenarioPluginRestart},
	{"key-rotation", scenarioKeyRotation},
	{"health", scenarioHealth},
	{"two-nodes", scenarioTwoNodes},
	{"authority", scenarioAuthority},
	{"limits", scenarioLimits},
}

func main() {
	opts, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(2)
	}
	s, err := newSuite(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(2)
	}
	// The harness started kleidi, so it stops kleidi, also when interrupted.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "conformance: got %v, stopping kleidi processes\n", sig)
		s.cleanup()
		os.Exit(130)
	}()

	code := 0
	if run, ok := jsonModes[opts.mode]; ok {
		if err := run(s); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", opts.mode, err)
			code = 1
		}
	} else {
		code = runConformance(s, opts.run)
	}
	s.cleanup()
	os.Exit(code)
}

// jsonModes print one JSON report on stdout instead of scenario results.
var jsonModes = map[string]func(*suite) error{"load": runLoad, "startup": runStartup, "storm": runStorm}

func runConformance(s *suite, run *regexp.Regexp) int {
	fmt.Printf("kleidi conformance: client %s, backend %s\n", clientVersion(), s.opts.backend)
	var failed []string
	passed := 0
	start := time.Now()
	for _, sc := range scenarios {
		if run != nil && !run.MatchString(sc.name) {
			continue
		}
		fmt.Printf("=== RUN   %s\n", sc.name)
		t0 := time.Now()
		err := sc.run(s)
		took := time.Since(t0).Round(10 * time.Millisecond)
		if err != nil {
			fmt.Printf("--- FAIL: %s (%v)\n    %v\n", sc.name, took, indent(err.Error()))
			if tail := s.primary.logTail(); tail != "" && !strings.Contains(err.Error(), tail) {
				fmt.Printf("    %s\n", indent(tail))
			}
			failed = append(failed, sc.name)
			continue
		}
		fmt.Printf("--- PASS: %s (%v)\n", sc.name, took)
		passed++
	}
	total := time.Since(start).Round(100 * time.Millisecond)
	fmt.Printf("total %v\n", total)
	if err := writeSummary(s.opts, passed, failed, total); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: summary:", err)
		return 1
	}
	if len(failed) > 0 {
		fmt.Printf("FAILED scenarios: %s\n", strings.Join(failed, ", "))
	}
	// The plain closing line CI reads.
	fmt.Printf("conformance: %d passed, %d failed\n", passed, len(failed))
	if len(failed) > 0 || passed == 0 {
		return 1
	}
	return 0
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }
