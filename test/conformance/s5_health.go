package main

import (
	"fmt"
	"strings"
	"syscall"
	"time"
)

// scenarioHealth: the apiserver's kms-providers check (/healthz and /readyz,
// etcd.go addHealthChecksWithoutLivez) follows kleidi going away and coming
// back, in the same apiserver process.
//
// Timing (config.go): a passing result is cached 20 s
// (kmsPluginHealthzPositiveTTL), a failing one 3 s (kmsPluginHealthzNegativeTTL);
// with kleidi gone, Status blocks until the call timeout because the client
// uses WaitForReady (grpc_service.go). So detecting the outage takes up to
// 20 s + timeout, and recovery up to 3 s + gRPC's reconnect backoff.
func scenarioHealth(s *suite) error {
	a, err := s.ensureAPI()
	if err != nil {
		return err
	}
	if n := len(a.cfg.HealthChecks); n != 1 || a.cfg.HealthChecks[0].Name() != "kms-providers" {
		return fmt.Errorf("expected the single check kms-providers for a v2-only config, got %d checks", n)
	}
	if err := a.healthCheck(); err != nil {
		return fmt.Errorf("kms-providers fails with kleidi up: %w", err)
	}
	logf("kms-providers passes with kleidi up")

	if code, err := s.primary.stop(syscall.SIGTERM, 15*time.Second); err != nil || code != 0 {
		return fmt.Errorf("stopping kleidi: exit %d, %v", code, err)
	}
	t0 := time.Now()
	down := 20*time.Second + 2*s.opts.timeout + 5*time.Second
	var checkErr error
	if _, err := waitFor(down, func() (string, bool) {
		checkErr = a.healthCheck()
		return "", checkErr != nil
	}); err != nil {
		return fmt.Errorf("kms-providers still passes %v after kleidi stopped", down)
	}
	msg := checkErr.Error()
	logf("kms-providers fails %v after kleidi stopped: %s", time.Since(t0).Round(time.Millisecond), msg)
	// A clear error names the check, the provider and the failed call.
	for _, want := range []string{"kms-provider-0", "KMS Provider " + providerName, "status"} {
		if !strings.Contains(msg, want) {
			return fmt.Errorf("health error does not mention %q: %s", want, msg)
		}
	}

	if err := s.primary.start(); err != nil {
		return err
	}
	t1 := time.Now()
	// 60 s: 3 s negative TTL plus grpc-go's reconnect backoff (1 s base,
	// x1.6, up to 120 s) after the failed connection attempts above.
	if _, err := waitFor(60*time.Second, func() (string, bool) {
		checkErr = a.healthCheck()
		return "", checkErr == nil
	}); err != nil {
		return fmt.Errorf("kms-providers still fails 60 s after kleidi restarted: %v", checkErr)
	}
	logf("kms-providers passes again %v after kleidi restarted (same apiserver)", time.Since(t1).Round(time.Millisecond))
	return nil
}
