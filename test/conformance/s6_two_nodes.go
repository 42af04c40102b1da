package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// scenarioTwoNodes: an HA control plane has one apiserver and one kleidi per
// node, sharing the key material (the same keyring file for local; with
// -node-b-env, node-b has settings of its own, e.g. a second TPM holding the
// same KEK ring, and the rotate command must reach both nodes). Values
// written on one node are read on the other, and both report the same key_id;
// otherwise reads fail with "unable to transform key" (kubernetes #66844).
func scenarioTwoNodes(s *suite) error {
	if err := s.ensureUp(); err != nil {
		return err
	}
	nodeB := s.newKleidi("node-b", filepath.Join(s.opts.workDir, "node-b.sock"))
	if len(s.opts.nodeBEnv) > 0 {
		logf("node-b has settings of its own: %s", strings.Join(envKeys(s.opts.nodeBEnv), ", "))
	}
	if err := nodeB.start(); err != nil {
		return err
	}
	defer nodeB.kill()
	keyA, err := currentKeyID(s.primary.socket)
	if err != nil {
		return err
	}
	keyB, err := currentKeyID(nodeB.socket)
	if err != nil {
		return err
	}
	if keyA != keyB {
		return fmt.Errorf("the nodes report different key_ids: node-a %q, node-b %q", keyA, keyB)
	}
	logf("node-a and node-b both report key_id %q", keyA)

	// One apiserver per node, each with its own DEK seed.
	apiA, err := s.replaceAPI()
	if err != nil {
		return err
	}
	apiB, err := s.loadAPIServer(nodeB.socket)
	if err != nil {
		return err
	}
	defer apiB.close()
	if err := crossRead(apiA, apiB, "a-to-b"); err != nil {
		return err
	}
	if err := crossRead(apiB, apiA, "b-to-a"); err != nil {
		return err
	}
	if got := loadString(&apiB.rec.lastEncK); got != keyA {
		return fmt.Errorf("node-b's Encrypt returned key_id %q, node-a's Status says %q", got, keyA)
	}
	if code, err := nodeB.stop(syscall.SIGTERM, 15*time.Second); err != nil || code != 0 {
		return fmt.Errorf("stopping node-b: exit %d, %v", code, err)
	}
	return nil
}

// crossRead writes through one node and reads through the other, which has
// never seen that DEK seed and so must call Decrypt on its own kleidi.
func crossRead(from, to *apiServer, tag string) error {
	items := makeDataset(50, tag)
	if err := writeAll(from, items); err != nil {
		return err
	}
	before := to.rec.decrypt.Load()
	stale, err := readAll(to, items)
	if err != nil {
		return fmt.Errorf("written via %s, read via %s: %w", from.name, to.name, err)
	}
	if stale != 0 {
		return fmt.Errorf("written via %s, read via %s: %d values stale", from.name, to.name, stale)
	}
	if to.rec.decrypt.Load() == before {
		return fmt.Errorf("%s read %s's values without calling Decrypt", to.name, from.name)
	}
	logf("%d values written via %s read back via %s (Decrypt on the other kleidi)", len(items), from.name, to.name)
	return nil
}

// envKeys lists the names of KEY=VALUE settings (their values may be paths to secrets).
func envKeys(kvs []string) []string {
	keys := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		keys = append(keys, strings.SplitN(kv, "=", 2)[0])
	}
	return keys
}
