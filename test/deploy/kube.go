package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// kubeScheme knows every built-in API group plus the Prometheus Operator's
// monitoring.coreos.com/v1 (the chart's ServiceMonitor).
var kubeScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(s))
	must(monitoringv1.AddToScheme(s))
	return s
}()

// strictDecoder fails on unknown fields, duplicate fields and wrong types,
// the way `kubectl apply --validate=strict` does with the server's schema.
var strictDecoder = serializer.NewCodecFactory(kubeScheme, serializer.EnableStrict).UniversalDeserializer()

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// decodeAll decodes every non-empty YAML document of data into its typed API object.
func decodeAll(data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	var errs []error
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if isBlank(doc) {
			continue
		}
		obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		if gvk.Kind == "" || gvk.Version == "" {
			errs = append(errs, fmt.Errorf("document %d: no apiVersion/kind", i))
			continue
		}
		out = append(out, obj)
	}
	return out, errors.Join(errs...)
}

// isBlank reports whether a YAML document holds nothing but comments and whitespace.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return false
		}
	}
	return true
}
