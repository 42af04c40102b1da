package main

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	kmsapi "k8s.io/kms/apis/v2"
)

// rawDial opens a plain grpc-go connection to the unix socket, outside the
// apiserver client. Used for harness plumbing (readiness, key_id polling)
// and, with authority set to the socket path, for the authority scenario.
// An empty authority keeps grpc-go's default.
func rawDial(socket, authority string) (*grpc.ClientConn, kmsapi.KeyManagementServiceClient, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}),
	}
	if authority != "" {
		opts = append(opts, grpc.WithAuthority(authority))
	}
	// passthrough: the target is only a name; the dialer above picks the socket.
	// grpc.Dial, not grpc.NewClient: NewClient appeared in grpc-go v1.63.0, and
	// k8s.io/apiserver v0.29 (Kubernetes 1.29, the oldest minor the matrix
	// builds, test/conformance/versions.json) requires grpc-go v1.58.3.
	//nolint:staticcheck // deprecated in newer grpc-go, still supported there
	conn, err := grpc.Dial("passthrough:///kleidi", opts...)
	if err != nil {
		return nil, nil, err
	}
	return conn, kmsapi.NewKeyManagementServiceClient(conn), nil
}

// rawStatus calls Status once on a fresh connection (no WaitForReady, so a
// missing socket fails fast instead of waiting for the deadline).
func rawStatus(ctx context.Context, socket string) (*kmsapi.StatusResponse, error) {
	conn, client, err := rawDial(socket, "")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return client.Status(ctx, &kmsapi.StatusRequest{})
}
