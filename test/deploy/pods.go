package main

import (
	"bytes"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func errUnexpected(want string, obj runtime.Object) error {
	return fmt.Errorf("expected %s, got %T", want, obj)
}

// podManifest strictly decodes a Pod or DaemonSet file and checks the pod spec.
func (v *validator) podManifest(rel, socketDir string) {
	objs, err := decodeAll(v.read(rel))
	if err != nil {
		v.fail(rel, "schema: %v", err)
		return
	}
	for _, obj := range objs {
		v.checkObject(rel, obj, socketDir)
	}
	v.pass(rel, fmt.Sprintf("strict decode of %d object(s) + control-plane pod checks", len(objs)))
}

// checkObject applies the kleidi-specific checks to the workload objects among objs.
func (v *validator) checkObject(rel string, obj runtime.Object, socketDir string) {
	switch o := obj.(type) {
	case *corev1.Pod:
		v.checkPodSpec(rel+" Pod/"+o.Name, &o.Spec, socketDir)
		if o.Namespace != "kube-system" {
			v.fail(rel, "a static pod belongs in kube-system, got %q", o.Namespace)
		}
	case *appsv1.DaemonSet:
		v.checkPodSpec(rel+" DaemonSet/"+o.Name, &o.Spec.Template.Spec, socketDir)
		if o.Spec.Selector == nil || !subset(o.Spec.Selector.MatchLabels, o.Spec.Template.Labels) {
			v.fail(rel, "DaemonSet selector does not match its pod template labels")
		}
	}
}

// checkPodSpec: what a KMS plugin needs on a control plane, beyond the schema.
func (v *validator) checkPodSpec(where string, spec *corev1.PodSpec, socketDir string) {
	if !spec.HostNetwork {
		v.fail(where, "hostNetwork must be true: without it the plugin waits for the CNI, which waits for the apiserver")
	}
	if spec.PriorityClassName != "system-node-critical" {
		v.fail(where, "priorityClassName must be system-node-critical, got %q", spec.PriorityClassName)
	}
	var c *corev1.Container
	for i := range spec.Containers {
		if spec.Containers[i].Name == "kleidi" {
			c = &spec.Containers[i]
		}
	}
	if c == nil {
		v.fail(where, "no container named kleidi")
		return
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			v.fail(where, "%s probe must GET %s (never a backend-dependent check for liveness)", name, path)
		}
	}
	probe("liveness", c.LivenessProbe, "/livez")
	probe("readiness", c.ReadinessProbe, "/readyz")
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !contains(capNames(sc.Capabilities.Drop), "ALL") {
		v.fail(where, "kleidi container must run non-root, read-only, without privilege escalation and with ALL capabilities dropped")
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		v.fail(where, "kleidi container needs a memory request and limit")
	}
	if !mountsHostDir(spec, c, socketDir) {
		v.fail(where, "no hostPath volume for the socket directory %s mounted into the kleidi container", socketDir)
	}
}

// mountsHostDir: a hostPath volume with this path is mounted into c (where KLEIDI_SOCKET points).
func mountsHostDir(spec *corev1.PodSpec, c *corev1.Container, dir string) bool {
	for _, vol := range spec.Volumes {
		if vol.HostPath == nil || vol.HostPath.Path != dir {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == vol.Name {
				return true
			}
		}
	}
	return false
}

func capNames(cs []corev1.Capability) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func subset(sel, labels map[string]string) bool {
	for k, val := range sel {
		if labels[k] != val {
			return false
		}
	}
	return len(sel) > 0
}

// sameExceptImage keeps the kind static pod in step with the kubeadm one.
func (v *validator) sameExceptImage(a, b string) {
	strip := func(data []byte) string {
		var keep []string
		for _, l := range strings.Split(string(data), "\n") {
			t := strings.TrimSpace(l)
			if !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "image:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if !bytes.Equal([]byte(strip(v.read(a))), []byte(strip(v.read(b)))) {
		v.fail(b, "differs from %s in more than comments and the image", a)
		return
	}
	v.pass(b, "identical to "+a+" apart from comments and the image")
}
