package main

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
)

// scenarioLimits: everything kleidi handed to an apiserver during the run
// passes the apiserver's own validation (kmsv2/envelope.go): key_id 1..1024
// bytes (ValidateKeyID), ciphertext 1..1024 bytes, annotation keys fully
// qualified domain names and their total size <= 32 KiB (ValidateEncryptedObject).
// A violation would surface in a cluster only as a failing probe in the
// apiserver log (kubernetes #117565).
func scenarioLimits(s *suite) error {
	if err := s.ensureUp(); err != nil {
		return err
	}
	// Fresh calls through the apiserver client, in both DEK modes:
	// a 32-byte HKDF seed (default since 1.29) and a 32-byte AES key (1.28 default).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := kmsv2.NewGRPCService(ctx, "unix://"+s.primary.socket, providerName, s.opts.timeout)
	if err != nil {
		return err
	}
	rec := &recorder{inner: svc, obs: s.obs}
	if _, err := rec.Status(ctx); err != nil {
		return err
	}
	for i := 0; i < 10; i++ {
		useSeed := i%2 == 0
		if _, _, _, err := kmsv2.GenerateTransformer(ctx, fmt.Sprintf("conformance-limits-%d", i), rec, useSeed); err != nil {
			return fmt.Errorf("GenerateTransformer(useSeed=%v): %w", useSeed, err)
		}
	}

	statusIDs, encrypts := s.obs.snapshot()
	for id := range statusIDs {
		if _, err := kmsv2.ValidateKeyID(id); err != nil {
			return fmt.Errorf("Status key_id %q: %w", id, err)
		}
	}
	seen := map[string]bool{}
	for i, r := range encrypts {
		o := &kmstypes.EncryptedObject{
			KeyID: r.KeyID, EncryptedDEKSource: r.Ciphertext, Annotations: r.Annotations,
			EncryptedDEKSourceType: kmstypes.EncryptedDEKSourceType_HKDF_SHA256_XNONCE_AES_GCM_SEED,
			EncryptedData:          []byte{0}, // as GenerateTransformer does: any non-empty value
		}
		if err := kmsv2.ValidateEncryptedObject(o); err != nil {
			return fmt.Errorf("Encrypt response %d (key_id %q): %w", i, r.KeyID, err)
		}
		// Encrypt's key_id must be one Status reported, or the apiserver discards
		// the response (rotateDEKOnKeyIDChange compares them).
		if !statusIDs[r.KeyID] {
			return fmt.Errorf("Encrypt returned key_id %q, which Status never reported", r.KeyID)
		}
		// Distinct plaintexts must give distinct ciphertexts (KMS plugin docs).
		if seen[string(r.Ciphertext)] {
			return fmt.Errorf("two Encrypt calls returned the same ciphertext")
		}
		seen[string(r.Ciphertext)] = true
	}
	for _, it := range s.dataset {
		if _, err := decodeStored(it.stored); err != nil {
			return fmt.Errorf("stored %s: %w", it.key, err)
		}
	}
	logf("validated %d Status key_ids, %d Encrypt responses (key_id, ciphertext, annotations), %d stored values",
		len(statusIDs), len(encrypts), len(s.dataset))
	return nil
}
