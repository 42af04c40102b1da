//go:build tools

// Package wrapper builds kube-apiserver from the k8s.io/kubernetes module.
//
// k8s.io/kubernetes cannot be built from its own go.mod: it replaces every
// staging module (k8s.io/api, k8s.io/apiserver, ...) with a path inside its
// repository. scripts/setup-control-plane.sh copies this file next to a go.mod
// it generates per Kubernetes version, which requires k8s.io/kubernetes vX.Y.Z
// and replaces each of those staging modules with its published v0.Y.Z, then
// runs `go build k8s.io/kubernetes/cmd/kube-apiserver`. The import below only
// keeps `go mod tidy` from dropping the requirement.
package wrapper

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
