package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// scenarioPluginRestart: kleidi is restarted under a running apiserver, first
// gracefully (SIGTERM, as the kubelet does), then by SIGKILL, which leaves the
// socket file behind; kleidi must remove it before bind or it cannot serve.
func scenarioPluginRestart(s *suite) error {
	if err := s.ensureDataset(); err != nil {
		return err
	}
	keyBefore, err := currentKeyID(s.primary.socket)
	if err != nil {
		return err
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		a, err := s.ensureAPI() // afterRestart replaces the apiserver each round
		if err != nil {
			return err
		}
		batch := makeDataset(20, fmt.Sprintf("restart-%d", sig))
		if err := writeAll(a, batch); err != nil {
			return err
		}
		s.dataset = append(s.dataset, batch...)

		code, err := s.primary.stop(sig, 15*time.Second)
		if err != nil {
			return err
		}
		_, statErr := os.Stat(s.primary.socket)
		switch sig {
		case syscall.SIGTERM:
			if code != 0 {
				return fmt.Errorf("kleidi exited with code %d after SIGTERM, expected 0\n%s", code, s.primary.logTail())
			}
			logf("SIGTERM: exit 0; socket file left behind: %v", statErr == nil)
		case syscall.SIGKILL:
			if statErr != nil {
				return fmt.Errorf("after SIGKILL the socket file is gone (%v): the stale-socket case is not exercised", statErr)
			}
			logf("SIGKILL: stale socket file %s left behind", s.primary.socket)
		}
		if err := s.primary.start(); err != nil {
			return fmt.Errorf("restart after %v: %w", sig, err)
		}
		if err := afterRestart(s, a, keyBefore); err != nil {
			return fmt.Errorf("after %v: %w", sig, err)
		}
	}
	return nil
}

// afterRestart checks one restart: same key_id, the running apiserver's
// connection comes back, and a fresh apiserver decrypts everything.
func afterRestart(s *suite, a *apiServer, keyBefore string) error {
	keyAfter, err := currentKeyID(s.primary.socket)
	if err != nil {
		return err
	}
	if keyAfter != keyBefore {
		return fmt.Errorf("key_id changed across a restart without rotation: %q -> %q", keyBefore, keyAfter)
	}
	// The running apiserver's gRPC connection (WaitForReady) must reconnect.
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.timeout)
	defer cancel()
	if st, err := a.rec.Status(ctx); err != nil || st.KeyID != keyBefore {
		return fmt.Errorf("running apiserver's client after restart: status %+v, err %v", st, err)
	}
	batch := makeDataset(20, fmt.Sprintf("post-restart-%d", time.Now().UnixNano()))
	if err := writeAll(a, batch); err != nil {
		return err
	}
	s.dataset = append(s.dataset, batch...)

	fresh, err := s.replaceAPI()
	if err != nil {
		return err
	}
	stale, err := readAll(fresh, s.dataset)
	if err != nil {
		return err
	}
	if stale != 0 || fresh.rec.decrypt.Load() < 1 {
		return fmt.Errorf("fresh apiserver: %d stale values, %d Decrypt calls", stale, fresh.rec.decrypt.Load())
	}
	logf("restarted with key_id unchanged; %d values read by %s with %d Decrypt calls", len(s.dataset), fresh.name, fresh.rec.decrypt.Load())
	return nil
}

func currentKeyID(socket string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := rawStatus(ctx, socket)
	if err != nil {
		return "", fmt.Errorf("Status on %s: %w", socket, err)
	}
	return st.KeyId, nil
}
