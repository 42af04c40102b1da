// Command validate-deploy checks kleidi's deployment artifacts offline
// (deploy/README.md): every Kubernetes manifest is decoded strictly into the real API
// types (unknown or misspelt fields and wrong types fail), the
// EncryptionConfiguration goes through kube-apiserver's own validation, the
// kind config through kind's own types, and the Helm chart is linted and
// rendered with Helm's libraries for every values file in its ci/ directory.
// On top of the schemas it checks what matters for a KMS plugin on a control
// plane (hostNetwork, priority, probes, socket paths that line up).
//
// Run it through scripts/validate-deploy.sh, which builds and caches it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// validator collects failures so one run reports every problem.
type validator struct {
	repo     string
	failures int
}

func (v *validator) path(rel string) string { return filepath.Join(v.repo, rel) }

func (v *validator) fail(file, format string, args ...any) {
	v.failures++
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", file, fmt.Sprintf(format, args...))
}

func (v *validator) pass(file, what string) { fmt.Printf("ok   %s: %s\n", file, what) }

func (v *validator) read(rel string) []byte {
	b, err := os.ReadFile(v.path(rel))
	if err != nil {
		v.fail(rel, "%v", err)
	}
	return b
}

func main() {
	repo := flag.String("repo", ".", "repository root")
	rendered := flag.String("rendered", "", "directory to write the rendered chart manifests to (optional)")
	flag.Parse()
	v := &validator{repo: *repo}

	v.selfTest()
	socketDir := v.encryptionConfig("deploy/kubernetes/encryption-configuration.yaml")
	v.podManifest("deploy/kubernetes/static-pod.yaml", socketDir)
	v.podManifest("deploy/kubernetes/daemonset.yaml", socketDir)
	v.podManifest("deploy/kind/kleidi-static-pod.yaml", socketDir)
	v.sameExceptImage("deploy/kubernetes/static-pod.yaml", "deploy/kind/kleidi-static-pod.yaml")
	v.kindConfig("deploy/kind/kind-config.yaml", socketDir)
	v.chart("deploy/helm/kleidi", *rendered)
	v.dashboard("deploy/grafana/kleidi-dashboard.json")

	if v.failures > 0 {
		fmt.Fprintf(os.Stderr, "validate-deploy: %d problem(s)\n", v.failures)
		os.Exit(1)
	}
	fmt.Println("validate-deploy: all deployment artifacts are valid")
}
