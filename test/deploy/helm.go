package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/runtime"
)

// The oldest Kubernetes kleidi supports (KMSv2 GA): the chart must render and lint for it.
const minKubeVersion = "v1.29.0"

// chart lints and renders the chart with its defaults and every ci/*.yaml,
// then strictly decodes and checks everything it renders.
func (v *validator) chart(rel, renderedDir string) {
	dir := v.path(rel)
	ch, err := loader.Load(dir)
	if err != nil {
		v.fail(rel, "load: %v", err)
		return
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "ci", "*.yaml"))
	sort.Strings(sets)
	for _, set := range append([]string{""}, sets...) {
		name := "defaults"
		vals := map[string]any{}
		if set != "" {
			name = strings.TrimSuffix(filepath.Base(set), ".yaml")
			cv, err := chartutil.ReadValuesFile(set)
			if err != nil {
				v.fail(rel, "%s: %v", name, err)
				continue
			}
			vals = cv
		}
		v.lintChart(rel, name, dir, vals)
		objs, text, err := render(ch, vals)
		if err != nil {
			v.fail(rel, "%s: render: %v", name, err)
			continue
		}
		for _, obj := range objs {
			v.checkObject(rel+" ("+name+")", obj, "/var/run/kleidi")
		}
		if renderedDir != "" {
			must(os.MkdirAll(renderedDir, 0o755))
			must(os.WriteFile(filepath.Join(renderedDir, name+".yaml"), []byte(text), 0o644))
		}
		v.pass(rel, fmt.Sprintf("%s: lint clean, %d object(s) rendered and strictly decoded", name, len(objs)))
	}
	if _, _, err := render(ch, map[string]any{"backend": "bogus"}); err == nil || !strings.Contains(err.Error(), "backend must be") {
		v.fail(rel, "an unknown backend must fail the render, got %v", err)
	}
}

func (v *validator) lintChart(rel, name, dir string, vals map[string]any) {
	kv, err := chartutil.ParseKubeVersion(minKubeVersion)
	must(err)
	linter := lint.AllWithKubeVersion(dir, vals, "kube-system", kv)
	for _, m := range linter.Messages {
		// INFO (e.g. "icon is recommended") is advice; warnings and errors fail.
		if m.Severity >= support.WarningSev {
			v.fail(rel, "%s: lint: %s", name, m)
		}
	}
}

// render runs Helm's template engine as `helm template --namespace kube-system` does.
func render(ch *chart.Chart, vals map[string]any) ([]runtime.Object, string, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = append(caps.APIVersions, "monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor")
	opts := chartutil.ReleaseOptions{Name: "kleidi", Namespace: "kube-system", Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, "", err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".yaml") && !isBlank([]byte(files[n])) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var all strings.Builder
	for _, n := range names {
		fmt.Fprintf(&all, "---\n# Source: %s\n%s\n", n, files[n])
	}
	objs, err := decodeAll([]byte(all.String()))
	return objs, all.String(), err
}
