package main

import (
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// scenarioKeyRotation: the KEK is rotated under a running apiserver.
//
// Waiting: the apiserver learns a new key_id only from Status. Its background
// poll runs every 1 min (kmsv2PluginHealthzPositiveInterval, unexported), but
// the kms-providers health check calls Status whenever its cached result is
// older than 20 s (kmsPluginHealthzPositiveTTL), exactly as /readyz probes do
// in a real cluster (kubernetes #127748). So we poll Check() every 500 ms: at
// most ~20 s after kleidi serves the new key_id, Status sees it and
// rotateDEKOnKeyIDChange calls Encrypt for a new seed under the new key.
func scenarioKeyRotation(s *suite) error {
	if err := s.ensureDataset(); err != nil {
		return err
	}
	a, err := s.ensureAPI()
	if err != nil {
		return err
	}
	oldKey, err := currentKeyID(s.primary.socket)
	if err != nil {
		return err
	}
	seenBefore, _ := s.obs.snapshot()
	if err := s.rotate(); err != nil {
		return err
	}
	t0 := time.Now()
	newKey, err := waitFor(30*time.Second, func() (string, bool) {
		id, err := currentKeyID(s.primary.socket)
		return id, err == nil && id != oldKey
	})
	if err != nil {
		return fmt.Errorf("kleidi still reports key_id %q after rotate: %w", oldKey, err)
	}
	if seenBefore[newKey] {
		return fmt.Errorf("rotation re-used key_id %q, which was current earlier in this run", newKey)
	}
	logf("kleidi Status reports the new key_id %q after %v", newKey, time.Since(t0).Round(time.Millisecond))

	t1 := time.Now()
	limit := 20*time.Second + 2*s.opts.timeout + 5*time.Second
	if _, err := waitFor(limit, func() (string, bool) {
		err := a.healthCheck()
		return "", err == nil && loadString(&a.rec.lastEncK) == newKey
	}); err != nil {
		return fmt.Errorf("health check never rotated the DEK seed to key_id %q (last Status key_id %q, health %v)",
			newKey, loadString(&a.rec.lastStatusKeyID), a.healthCheck())
	}
	logf("%s's health check observed it and re-encrypted its seed after %v", a.name, time.Since(t1).Round(time.Millisecond))

	batch := makeDataset(20, "rotated")
	if err := writeAll(a, batch); err != nil {
		return err
	}
	if ids, err := keyIDs(batch); err != nil || ids[newKey] != len(batch) {
		return fmt.Errorf("new writes carry key_ids %v (err %v), want all %q", ids, err, newKey)
	}
	old := s.dataset
	if err := expectStale(a, old, len(old)); err != nil {
		return err
	}
	// A fresh apiserver must Decrypt old-KEK ciphertexts after the rotation.
	b, err := s.replaceAPI()
	if err != nil {
		return err
	}
	if err := expectStale(b, old, len(old)); err != nil {
		return err
	}
	if !b.rec.decrypted(oldKey) {
		return fmt.Errorf("%s read old values without a successful Decrypt for key_id %q", b.name, oldKey)
	}
	// The storage migration path: a no-op update re-writes a stale object.
	if err := writeAll(b, old); err != nil {
		return err
	}
	if err := expectStale(b, old, 0); err != nil {
		return err
	}
	s.dataset = append(old, batch...)
	logf("new writes under the new key_id; %d old values read stale=true, current (stale=false) after a rewrite", len(old))
	return nil
}

func expectStale(a *apiServer, items []*item, want int) error {
	stale, err := readAll(a, items)
	if err != nil {
		return err
	}
	if stale != want {
		return fmt.Errorf("%s: %d of %d values read stale, want %d", a.name, stale, len(items), want)
	}
	return nil
}

// rotate runs the backend's rotate command (default `kleidi rotate`).
func (s *suite) rotate() error {
	cmd := exec.Command("sh", "-c", s.opts.rotateCmd)
	cmd.Env = s.primary.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("rotate command %q: %w\n%s", s.opts.rotateCmd, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitFor polls cond every 500 ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() (string, bool)) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		v, ok := cond()
		if ok {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("timed out after %v", limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
