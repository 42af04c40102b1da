package main

import (
	"context"
	"fmt"
	"time"
)

// scenarioAPIServerRestart: a restarted kube-apiserver has an empty DEK cache
// (kmsv2/cache.go is in-process), so reading existing data must go through
// kleidi's Decrypt with the stored ciphertext, key_id and annotations.
func scenarioAPIServerRestart(s *suite) error {
	if err := s.ensureDataset(); err != nil {
		return err
	}
	old := s.api
	fresh, err := s.replaceAPI() // cancels the old context, as process exit would
	if err != nil {
		return err
	}
	// The old client's connection is closed with its context (grpc_service.go),
	// so nothing of the old process state can serve the reads below.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := old.rec.inner.Status(ctx); err == nil {
		return fmt.Errorf("old apiserver's client still works after its context was cancelled")
	}

	ids, err := keyIDs(s.dataset)
	if err != nil {
		return err
	}
	stale, err := readAll(fresh, s.dataset)
	if err != nil {
		return err
	}
	decrypts := fresh.rec.decrypt.Load()
	if decrypts < 1 {
		return fmt.Errorf("fresh apiserver read %d values without calling Decrypt", len(s.dataset))
	}
	for id := range ids {
		if !fresh.rec.decrypted(id) {
			return fmt.Errorf("no successful Decrypt for stored key_id %q", id)
		}
	}
	if stale != 0 {
		return fmt.Errorf("%d values stale after an apiserver restart without rotation", stale)
	}
	logf("%s (fresh LoadEncryptionConfig) read %d values with %d Decrypt calls (one per distinct DEK seed), none stale",
		fresh.name, len(s.dataset), decrypts)
	return nil
}
