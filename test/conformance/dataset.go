package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"
	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
)

// item is one object as etcd would hold it.
type item struct {
	resource string // secrets | configmaps
	key      string // etcd key, e.g. /registry/secrets/default/db-password-3 (the AES-GCM AAD)
	plain    []byte // what the apiserver serialises
	marker   string // unique text inside plain that must never appear in stored
	stored   []byte // value after TransformToStorage
}

var namespaces = []string{"default", "kube-system", "payments", "team-a", "monitoring"}

// makeDataset builds n values, alternating secrets and configmaps, with the
// etcd key layout of pkg/registry (/registry/<resource>/<namespace>/<name>).
func makeDataset(n int, tag string) []*item {
	items := make([]*item, 0, n)
	for i := 0; i < n; i++ {
		resource, kind := "secrets", "Secret"
		if i%2 == 1 {
			resource, kind = "configmaps", "ConfigMap"
		}
		ns := namespaces[i%len(namespaces)]
		name := fmt.Sprintf("conformance-%s-%d", tag, i)
		rnd := make([]byte, 12)
		_, _ = rand.Read(rnd)
		marker := "kleidi-plaintext-" + tag + "-" + hex.EncodeToString(rnd)
		// Shaped like an apiserver JSON object; the apiserver's protobuf
		// encoding starts with "k8s\x00", so that goes in front.
		plain := fmt.Appendf([]byte("k8s\x00"),
			`{"kind":%q,"apiVersion":"v1","metadata":{"name":%q,"namespace":%q},"data":{"value":%q}}`,
			kind, name, ns, marker)
		items = append(items, &item{resource: resource, key: "/registry/" + resource + "/" + ns + "/" + name, plain: plain, marker: marker})
	}
	return items
}

// writeAll writes every item and checks the stored bytes.
func writeAll(a *apiServer, items []*item) error {
	for _, it := range items {
		if err := a.write(it); err != nil {
			return err
		}
		if err := checkStored(it); err != nil {
			return err
		}
	}
	return nil
}

// checkStored: the kleidi prefix, a valid EncryptedObject, and no plaintext
// (neither the marker nor any 16-byte window of the serialised object).
func checkStored(it *item) error {
	if _, err := decodeStored(it.stored); err != nil {
		return fmt.Errorf("%s: %w", it.key, err)
	}
	if bytes.Contains(it.stored, []byte(it.marker)) {
		return fmt.Errorf("%s: stored value contains the plaintext marker %q", it.key, it.marker)
	}
	for i := 0; i+16 <= len(it.plain); i++ {
		if bytes.Contains(it.stored, it.plain[i:i+16]) {
			return fmt.Errorf("%s: stored value contains plaintext bytes %q", it.key, it.plain[i:i+16])
		}
	}
	return nil
}

// readAll reads every item back and returns how many were reported stale.
func readAll(a *apiServer, items []*item) (stale int, err error) {
	for _, it := range items {
		plain, st, err := a.read(it)
		if err != nil {
			return stale, err
		}
		if !bytes.Equal(plain, it.plain) {
			return stale, fmt.Errorf("%s: read back %d bytes that differ from the %d written", it.key, len(plain), len(it.plain))
		}
		if st {
			stale++
		}
	}
	return stale, nil
}

// decodeStored parses a stored value the way envelope.go doDecode does,
// after checking and removing the provider prefix.
func decodeStored(stored []byte) (*kmstypes.EncryptedObject, error) {
	if !bytes.HasPrefix(stored, []byte(storagePrefix)) {
		n := min(len(stored), len(storagePrefix)+8)
		return nil, fmt.Errorf("stored value does not start with %q: %q", storagePrefix, stored[:n])
	}
	o := &kmstypes.EncryptedObject{}
	if err := unmarshalEncryptedObject(stored[len(storagePrefix):], o); err != nil {
		return nil, fmt.Errorf("stored value is not an EncryptedObject: %w", err)
	}
	if err := kmsv2.ValidateEncryptedObject(o); err != nil {
		return nil, fmt.Errorf("ValidateEncryptedObject: %w", err)
	}
	return o, nil
}

// keyIDs returns the distinct key_ids of the stored items.
func keyIDs(items []*item) (map[string]int, error) {
	ids := map[string]int{}
	for _, it := range items {
		o, err := decodeStored(it.stored)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", it.key, err)
		}
		ids[o.KeyID]++
	}
	return ids, nil
}

// unmarshalEncryptedObject decodes with whichever protobuf runtime generated
// EncryptedObject in the k8s.io/apiserver this binary links: protoc-gen-go
// (google.golang.org/protobuf) in recent minors, protoc-gen-gogo in older ones
// such as v0.29, whose envelope.go decodes it with gogo's proto.Unmarshal
// (Reset, then XXX_Unmarshal). A type switch, not build tags, so every minor
// in test/conformance/versions.json compiles from the same sources.
func unmarshalEncryptedObject(b []byte, o *kmstypes.EncryptedObject) error {
	switch m := any(o).(type) {
	case proto.Message:
		return proto.Unmarshal(b, m)
	case interface{ XXX_Unmarshal([]byte) error }:
		return m.XXX_Unmarshal(b)
	default:
		return fmt.Errorf("%T is neither a protobuf-go nor a gogo message", o)
	}
}
