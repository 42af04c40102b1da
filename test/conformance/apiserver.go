package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2"
	kmsservice "k8s.io/kms/pkg/service"
)

// providerName is the KMS provider name in the EncryptionConfiguration; it is
// part of every stored value's prefix (config.go kmsTransformerPrefixV2 + name + ":").
const providerName = "kleidi"

const storagePrefix = "k8s:enc:kms:v2:" + providerName + ":"

// encryptionConfig is what an operator puts in --encryption-provider-config.
// apiVersion v2 must be explicit: the field defaults to v1 (apis/apiserver/v1/defaults.go).
// identity last, as in the Kubernetes docs, so pre-existing plaintext stays readable.
const encryptionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
      - configmaps
    providers:
      - kms:
          apiVersion: v2
          name: %s
          endpoint: unix://%s
          timeout: %s
      - identity: {}
`

// apiServer is the encryption state of one kube-apiserver process: what
// LoadEncryptionConfig returns, plus the context that owns its goroutines.
type apiServer struct {
	name   string
	cancel context.CancelFunc
	cfg    *encryptionconfig.EncryptionConfiguration
	rec    *recorder
}

// loadAPIServer does what kube-apiserver does at startup (pkg/server/options/etcd.go):
// LoadEncryptionConfig dials the plugin, primes it inline (Status + Encrypt)
// and starts the 1 min / 10 s Status poll goroutines.
func (s *suite) loadAPIServer(socket string) (*apiServer, error) {
	name := s.nextAPIName()
	path := filepath.Join(s.opts.workDir, name+"-encryption-config.yaml")
	yaml := fmt.Sprintf(encryptionConfig, providerName, socket, s.opts.timeout)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	rec := &recorder{obs: s.obs}
	// EnvelopeKMSv2ServiceFactory is exported "for integration tests"
	// (config.go). We keep the real client and only observe its calls.
	encryptionconfig.EnvelopeKMSv2ServiceFactory = func(ctx context.Context, endpoint, provider string, timeout time.Duration) (kmsservice.Service, error) {
		svc, err := kmsv2.NewGRPCService(ctx, endpoint, provider, timeout)
		if err != nil {
			return nil, err
		}
		rec.inner = svc
		return rec, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := encryptionconfig.LoadEncryptionConfig(ctx, path, false, name)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("LoadEncryptionConfig: %w", err)
	}
	if rec.inner == nil {
		cancel()
		return nil, fmt.Errorf("LoadEncryptionConfig did not create a KMSv2 client")
	}
	return &apiServer{name: name, cancel: cancel, cfg: cfg, rec: rec}, nil
}

func (a *apiServer) close() { a.cancel() }

func (a *apiServer) transformer(resource string) value.Transformer {
	return encryptionconfig.StaticTransformers(a.cfg.Transformers).
		TransformerForResource(schema.GroupResource{Resource: resource})
}

// write is what etcd3/store.go does before a Put: the etcd key is the AAD.
func (a *apiServer) write(it *item) error {
	out, err := a.transformer(it.resource).TransformToStorage(context.Background(), it.plain, value.DefaultContext(it.key))
	if err != nil {
		return fmt.Errorf("%s: TransformToStorage %s: %w", a.name, it.key, err)
	}
	it.stored = out
	return nil
}

// read is what etcd3/store.go does after a Get.
func (a *apiServer) read(it *item) (plain []byte, stale bool, err error) {
	plain, stale, err = a.transformer(it.resource).TransformFromStorage(context.Background(), it.stored, value.DefaultContext(it.key))
	if err != nil {
		return nil, false, fmt.Errorf("%s: TransformFromStorage %s: %w", a.name, it.key, err)
	}
	return plain, stale, nil
}

// healthCheck runs the kms-providers check as GET /readyz/kms-providers would.
func (a *apiServer) healthCheck() error {
	if n := len(a.cfg.HealthChecks); n != 1 {
		return fmt.Errorf("expected 1 health check, got %d", n)
	}
	return a.cfg.HealthChecks[0].Check(httptest.NewRequest("GET", "/readyz/kms-providers", nil))
}
