package main

import (
	"fmt"
)

// scenarioWriteRead: the plain path of an encrypted cluster. LoadEncryptionConfig
// primes the plugin (Status, then Encrypt of a fresh 32-byte seed: config.go
// primeAndProbeKMSv2); every write then derives a per-object key from that seed
// locally, so kleidi sees one Encrypt per apiserver start, not one per write.
func scenarioWriteRead(s *suite) error {
	a, err := s.replaceAPI()
	if err != nil {
		return err
	}
	if n := a.rec.status.Load(); n < 1 {
		return fmt.Errorf("LoadEncryptionConfig made no Status call (prime failed?)")
	}
	if n := a.rec.encrypt.Load(); n != 1 {
		return fmt.Errorf("expected exactly 1 Encrypt (the DEK seed) after the prime, got %d", n)
	}
	logf("%s primed: %d Status, %d Encrypt, key_id %q", a.name, a.rec.status.Load(), a.rec.encrypt.Load(), loadString(&a.rec.lastEncK))

	items := makeDataset(s.opts.values, "wr")
	if err := writeAll(a, items); err != nil {
		return err
	}
	logf("wrote %d values (secrets, configmaps); all start with %q, none contains plaintext", len(items), storagePrefix)

	ids, err := keyIDs(items)
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return fmt.Errorf("expected all values under one key_id, got %v", ids)
	}
	status := loadString(&a.rec.lastStatusKeyID)
	if _, ok := ids[status]; !ok {
		return fmt.Errorf("stored key_id %v differs from Status key_id %q", ids, status)
	}

	stale, err := readAll(a, items)
	if err != nil {
		return err
	}
	if stale != 0 {
		return fmt.Errorf("%d of %d freshly written values read back as stale", stale, len(items))
	}
	if n := a.rec.encrypt.Load(); n != 1 {
		return fmt.Errorf("writes caused Encrypt calls: %d in total, expected 1", n)
	}
	logf("read back %d values, none stale; %d Decrypt calls (DEK cache)", len(items), a.rec.decrypt.Load())
	s.dataset = items
	return nil
}
