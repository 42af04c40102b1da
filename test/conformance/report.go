package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

// fallbackClientVersion is used only if the binary carries no module info.
const fallbackClientVersion = "k8s.io/apiserver v0.35.10 (Kubernetes v1.35.10)"

// clientVersion reports the k8s.io/apiserver version actually linked in.
func clientVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fallbackClientVersion
	}
	for _, dep := range info.Deps {
		if dep.Path == "k8s.io/apiserver" {
			// k8s.io/* staging modules are tagged v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>.
			return fmt.Sprintf("k8s.io/apiserver %s (Kubernetes v1%s)", dep.Version, strings.TrimPrefix(dep.Version, "v0"))
		}
	}
	return fallbackClientVersion
}

// writeSummary records the result for scripts/summarize-tests.mjs, which
// adds "passed" and "failed" to the suite's closing line.
func writeSummary(o *options, passed int, failed []string, total time.Duration) error {
	if o.summary == "" {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{
		"passed": passed, "failed": len(failed), "failedScenarios": append([]string{}, failed...),
		"client": clientVersion(), "backend": o.backend, "durationS": total.Seconds(),
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(o.summary, append(b, '\n'), 0o644)
}

// logTail returns the end of kleidi's log for failure messages.
func (k *kleidi) logTail() string {
	b, err := os.ReadFile(k.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "--- " + k.logPath + " (tail):\n" + string(bytes.TrimSpace(b))
}
