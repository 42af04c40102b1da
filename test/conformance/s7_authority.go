package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	kmsapi "k8s.io/kms/apis/v2"
)

// authorityVariant is the :authority an older kube-apiserver sent. Up to 1.31
// the client was grpc.Dial(<socket path>, WithContextDialer(...)) without
// WithAuthority (k8s.io/apiserver v0.27-v0.31 kmsv2/grpc_service.go), so the
// header was grpc-go's default for that target: the raw path with grpc-go
// v1.51/v1.54 (Kubernetes 1.27/1.28), the percent-encoded path since grpc-go
// added encodeAuthority (v1.58.3/v1.65.0 in Kubernetes 1.29-1.31). 1.32+
// sends "localhost" (kubernetes #126929, PR #126930), which every other
// scenario uses.
type authorityVariant struct {
	name string
	want func(socket string) string
	dial func(socket string) (*grpc.ClientConn, kmsapi.KeyManagementServiceClient, error)
}

// kleidi supports kube-apiserver 1.29+ (KMSv2 GA). The raw-path :authority of
// 1.27/1.28 (grpc-go v1.51/v1.54, before encodeAuthority) is refused by Node's
// HTTP/2 layer (nghttp2 rejects '/' in :authority with PROTOCOL_ERROR) before
// kleidi sees the request; docs/adr/0003-grpc-js-host.md records that limit.
var authorityVariants = []authorityVariant{
	{"kube-apiserver 1.29-1.31 (percent-encoded path)",
		func(socket string) string { return strings.ReplaceAll(socket, "/", "%2F") },
		dialLikeOldAPIServer},
}

// dialLikeOldAPIServer is the ≤1.31 apiserver's dial, with today's grpc-go
// (whose default authority for this target is the same as v1.58-v1.65's).
func dialLikeOldAPIServer(socket string) (*grpc.ClientConn, kmsapi.KeyManagementServiceClient, error) {
	//nolint:staticcheck // grpc.Dial on purpose: it is what those apiservers called
	conn, err := grpc.Dial(socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}))
	if err != nil {
		return nil, nil, err
	}
	return conn, kmsapi.NewKeyManagementServiceClient(conn), nil
}

// scenarioAuthority: kleidi answers Status, Encrypt and Decrypt whatever
// :authority the apiservers still in use send.
func scenarioAuthority(s *suite) error {
	if err := s.ensureUp(); err != nil {
		return err
	}
	probeSocket := filepath.Join(s.opts.workDir, "authority-probe.sock")
	var failures []string
	for _, v := range authorityVariants {
		// Prove the header on the wire first, against a grpc-go server that records it.
		got, err := authoritySeenBy(probeSocket, v.dial)
		if err != nil {
			return err
		}
		if got != v.want(probeSocket) {
			return fmt.Errorf("self-check %s: sent :authority %q, want %q", v.name, got, v.want(probeSocket))
		}
		header := v.want(s.primary.socket)
		if err := roundTrip(s, v); err != nil {
			failures = append(failures, fmt.Sprintf("%s, :authority %q: %v", v.name, header, err))
			continue
		}
		logf("%s: Status, Encrypt and Decrypt succeed with :authority %q", v.name, header)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%s", strings.Join(failures, "\n"))
	}
	return nil
}

func roundTrip(s *suite, v authorityVariant) error {
	conn, client, err := v.dial(s.primary.socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.timeout)
	defer cancel()
	if _, err := client.Status(ctx, &kmsapi.StatusRequest{}); err != nil {
		return fmt.Errorf("Status: %w", err)
	}
	seed := randomSeed() // 32 bytes, the apiserver's DEK seed size
	enc, err := client.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: seed, Uid: "conformance-authority-enc"})
	if err != nil {
		return fmt.Errorf("Encrypt: %w", err)
	}
	dec, err := client.Decrypt(ctx, &kmsapi.DecryptRequest{
		Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations, Uid: "conformance-authority-dec"})
	if err != nil {
		return fmt.Errorf("Decrypt: %w", err)
	}
	if !bytes.Equal(dec.Plaintext, seed) {
		return fmt.Errorf("Decrypt returned other bytes than were encrypted")
	}
	return nil
}
