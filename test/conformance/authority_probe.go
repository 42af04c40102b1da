package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	kmsapi "k8s.io/kms/apis/v2"
)

// authorityProbe is an in-process grpc-go KMS server that records the
// :authority of the Status calls it receives, so the authority scenario can
// show which header its clients really put on the wire.
type authorityProbe struct {
	kmsapi.UnimplementedKeyManagementServiceServer
	seen chan string
}

func (p *authorityProbe) Status(ctx context.Context, _ *kmsapi.StatusRequest) (*kmsapi.StatusResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	got := ""
	if v := md.Get(":authority"); len(v) > 0 {
		got = v[0]
	}
	select {
	case p.seen <- got:
	default:
	}
	return &kmsapi.StatusResponse{Version: "v2", Healthz: "ok", KeyId: "probe"}, nil
}

// authoritySeenBy serves the probe on socket, calls Status through dial and
// returns the :authority the probe received.
func authoritySeenBy(socket string, dial func(string) (*grpc.ClientConn, kmsapi.KeyManagementServiceClient, error)) (string, error) {
	_ = os.Remove(socket)
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return "", err
	}
	srv := grpc.NewServer()
	probe := &authorityProbe{seen: make(chan string, 1)}
	kmsapi.RegisterKeyManagementServiceServer(srv, probe)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, client, err := dial(socket)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := client.Status(context.Background(), &kmsapi.StatusRequest{}); err != nil {
		return "", fmt.Errorf("self-check Status: %w", err)
	}
	return <-probe.seen, nil
}
