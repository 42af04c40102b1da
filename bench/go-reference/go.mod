// The Go baseline of kleidi's benchmarks. k8s.io/kms is pinned to the same
// release as the conformance harness's client (test/conformance/go.mod).
module github.com/kleidi/kleidi/bench/go-reference

go 1.25.0

require (
	google.golang.org/grpc v1.72.2
	k8s.io/kms v0.35.10
)

require (
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sys v0.46.0 // indirect
	golang.org/x/text v0.39.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250528174236-200df99c418a // indirect
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af // indirect
)
