// Command kms-go is the Go baseline of kleidi's benchmarks (docs/benchmarks.md): the
// smallest KMSv2 plugin a Go author would write, on the server library
// kube-apiserver's own project publishes (k8s.io/kms/pkg/service), with an
// in-process AES-256-GCM key. It does the same per-call work as kleidi's local
// backend (random 96-bit nonce, AAD bound to the key_id, one annotation that
// Decrypt checks), so the ratio kleidi(local) ÷ kms-go prices kleidi's runtime
// and edge, not a different amount of cryptography.
//
// Not a plugin to deploy: the key is a plain file (or only in memory). Usage
// mirrors `kleidi serve`, so the same launcher can start either:
//
//	kms-go [serve] --socket unix:///path/kms.sock [--state-dir DIR] [other kleidi flags, ignored]
//
// With --state-dir the key is read from (or created in) DIR/go-reference.key,
// so a restarted process decrypts what the previous one encrypted (the
// benchmark's cold-start storm); without, it is new on every start.
package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/kms/pkg/service"
)

const (
	keyID         = "go-reference:v1"
	annotationKey = "version.kleidi.io"
)

var annotationValue = []byte("1")

type plugin struct{ aead cipher.AEAD }

func (p *plugin) Status(context.Context) (*service.StatusResponse, error) {
	return &service.StatusResponse{Version: "v2", Healthz: "ok", KeyID: keyID}, nil
}

func (p *plugin) Encrypt(_ context.Context, _ string, data []byte) (*service.EncryptResponse, error) {
	if len(data) == 0 {
		return nil, status.Error(codes.InvalidArgument, "empty plaintext")
	}
	out := make([]byte, p.aead.NonceSize(), p.aead.NonceSize()+len(data)+p.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	out = p.aead.Seal(out, out, data, []byte(keyID))
	return &service.EncryptResponse{Ciphertext: out, KeyID: keyID,
		Annotations: map[string][]byte{annotationKey: annotationValue}}, nil
}

func (p *plugin) Decrypt(_ context.Context, _ string, req *service.DecryptRequest) ([]byte, error) {
	if req.KeyID != keyID {
		return nil, status.Errorf(codes.NotFound, "unknown key_id %q", req.KeyID)
	}
	if v, ok := req.Annotations[annotationKey]; !ok || !bytes.Equal(v, annotationValue) || len(req.Annotations) != 1 {
		return nil, status.Error(codes.InvalidArgument, "annotations do not match")
	}
	n := p.aead.NonceSize()
	if len(req.Ciphertext) < n+p.aead.Overhead()+1 {
		return nil, status.Error(codes.InvalidArgument, "ciphertext is truncated")
	}
	plain, err := p.aead.Open(nil, req.Ciphertext[:n], req.Ciphertext[n:], []byte(keyID))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "ciphertext failed authentication")
	}
	return plain, nil
}

// flagValue takes --name (or -name, --name=) from kleidi-style flags.
func flagValue(args []string, name string) string {
	var v string
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		switch {
		case a == name && i+1 < len(args):
			v = args[i+1]
			i++
		case strings.HasPrefix(a, name+"="):
			v = strings.TrimPrefix(a, name+"=")
		}
	}
	return v
}

// socketPath resolves --socket like k8s.io/kms/pkg/util.ParseEndpoint (unix:///path → /path).
func socketPath(args []string) (string, error) {
	raw := flagValue(args, "socket")
	if raw == "" {
		return "", errors.New("--socket is required")
	}
	if !strings.Contains(raw, "://") {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "unix" || u.Path == "" {
		return "", fmt.Errorf("--socket %q is not unix:///path", raw)
	}
	return u.Path, nil
}

func main() {
	path, err := socketPath(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kms-go:", err)
		os.Exit(2)
	}
	key, err := loadKey(flagValue(os.Args[1:], "state-dir"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kms-go:", err)
		os.Exit(1)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	// The library neither removes a stale socket nor sets a mode: its ListenAndServe is a bare
	// net.Listen("unix", addr) (https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/kms/pkg/service/grpc_service.go).
	_ = os.Remove(path)
	syscall.Umask(0o177) // socket mode 0600, like kleidi's default; the process creates no other files
	svc := service.NewGRPCService(path, 3*time.Second, &plugin{aead: aead})
	errc := make(chan error, 1)
	go func() { errc <- svc.ListenAndServe() }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "kms-go:", err)
		os.Exit(1)
	case <-sigs:
		svc.Shutdown()
		_ = os.Remove(path)
	}
}

// loadKey reads DIR/go-reference.key, creating it when missing; "" gives a key in memory only.
func loadKey(dir string) ([]byte, error) {
	key := make([]byte, 32)
	if dir == "" {
		_, err := rand.Read(key)
		return key, err
	}
	path := filepath.Join(dir, "go-reference.key")
	if b, err := os.ReadFile(path); err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s holds %d bytes, not 32", path, len(b))
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, key, 0o600)
}
