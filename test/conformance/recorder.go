package main

import (
	"context"
	"sync"
	"sync/atomic"

	kmsservice "k8s.io/kms/pkg/service"
)

// observations keeps what kleidi returned to any apiserver client during the
// run, so the limits scenario can validate all of it.
type observations struct {
	mu        sync.Mutex
	statusIDs map[string]bool
	encrypts  []kmsservice.EncryptResponse
}

func (o *observations) addStatus(keyID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.statusIDs == nil {
		o.statusIDs = map[string]bool{}
	}
	o.statusIDs[keyID] = true
}

func (o *observations) addEncrypt(r kmsservice.EncryptResponse) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.encrypts) < 10000 { // the load mode could produce millions
		o.encrypts = append(o.encrypts, r)
	}
}

func (o *observations) snapshot() (map[string]bool, []kmsservice.EncryptResponse) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ids := map[string]bool{}
	for k := range o.statusIDs {
		ids[k] = true
	}
	return ids, append([]kmsservice.EncryptResponse(nil), o.encrypts...)
}

// recorder wraps the apiserver's own gRPC client (kmsv2.NewGRPCService) and
// counts calls, so a scenario can prove that Decrypt really reached kleidi
// and see which key_id the apiserver's probe last observed.
type recorder struct {
	inner                     kmsservice.Service
	obs                       *observations
	status, encrypt, decrypt  atomic.Int64
	lastStatusKeyID, lastEncK atomic.Value // string
	decryptKeyIDs             sync.Map     // key_id -> true, for successful Decrypts
}

func (r *recorder) Status(ctx context.Context) (*kmsservice.StatusResponse, error) {
	resp, err := r.inner.Status(ctx)
	r.status.Add(1)
	if err == nil {
		r.lastStatusKeyID.Store(resp.KeyID)
		r.obs.addStatus(resp.KeyID)
	}
	return resp, err
}

func (r *recorder) Encrypt(ctx context.Context, uid string, data []byte) (*kmsservice.EncryptResponse, error) {
	resp, err := r.inner.Encrypt(ctx, uid, data)
	r.encrypt.Add(1)
	if err == nil {
		r.lastEncK.Store(resp.KeyID)
		r.obs.addEncrypt(*resp)
	}
	return resp, err
}

func (r *recorder) Decrypt(ctx context.Context, uid string, req *kmsservice.DecryptRequest) ([]byte, error) {
	out, err := r.inner.Decrypt(ctx, uid, req)
	r.decrypt.Add(1)
	if err == nil {
		r.decryptKeyIDs.Store(req.KeyID, true)
	}
	return out, err
}

func loadString(v *atomic.Value) string {
	s, _ := v.Load().(string)
	return s
}

func (r *recorder) decrypted(keyID string) bool {
	_, ok := r.decryptKeyIDs.Load(keyID)
	return ok
}
