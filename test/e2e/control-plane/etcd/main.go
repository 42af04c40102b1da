// Command etcd is the etcd of kleidi's end-to-end tests (docs/testing.md): a
// single-member etcd server embedded from go.etcd.io/etcd/server/v3/embed,
// listening on loopback only, and a reader that prints raw values so the tests
// can check what kube-apiserver stored.
//
//	etcd serve -data-dir DIR -client-port N -peer-port M [-cert-file F -key-file F -trusted-ca-file F]
//	etcd get -endpoint http://127.0.0.1:N -prefix /registry/secrets/
//
// With -cert-file and -key-file the client port serves TLS (https), and with
// -trusted-ca-file it requires a client certificate signed by that CA, as a
// kubeadm control plane's etcd does (--client-cert-auth).
// serve prints "ready" on stdout once the member serves clients and stops on
// SIGTERM or SIGINT. get prints one JSON object a line:
// {"key": "...", "value": "<base64>", "modRevision": N}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: etcd serve|get [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "get":
		err = get(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		os.Exit(1)
	}
}

func loopback(port int) url.URL {
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("data-dir", "", "data directory")
	clientPort := fs.Int("client-port", 2379, "client port on 127.0.0.1")
	peerPort := fs.Int("peer-port", 2380, "peer port on 127.0.0.1")
	certFile := fs.String("cert-file", "", "server certificate: the client port serves https")
	keyFile := fs.String("key-file", "", "server key")
	caFile := fs.String("trusted-ca-file", "", "CA of the client certificates etcd requires")
	_ = fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("-data-dir is required")
	}
	cfg := embed.NewConfig()
	cfg.Name = "e2e"
	cfg.Dir = *dir
	cfg.LogLevel = "error"
	client, peer := loopback(*clientPort), loopback(*peerPort)
	if *certFile != "" {
		client.Scheme = "https"
		cfg.ClientTLSInfo.CertFile = *certFile
		cfg.ClientTLSInfo.KeyFile = *keyFile
		if *caFile != "" {
			cfg.ClientTLSInfo.TrustedCAFile = *caFile
			cfg.ClientTLSInfo.ClientCertAuth = true
		}
	}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", cfg.Name, peer.String())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("ready")
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		return fmt.Errorf("not ready after 60 s")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
		return nil
	case err := <-e.Err():
		return err
	}
}

type entry struct {
	Key         string `json:"key"`
	Value       []byte `json:"value"`
	ModRevision int64  `json:"modRevision"`
}

func get(args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	endpoint := fs.String("endpoint", "http://127.0.0.1:2379", "client URL")
	prefix := fs.String("prefix", "/registry/", "key prefix")
	_ = fs.Parse(args)
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, *prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	for _, kv := range resp.Kvs {
		if err := enc.Encode(entry{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}); err != nil {
			return err
		}
	}
	return nil
}
