package main

import (
	"bytes"
	"os"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// apiServerPatch is the part of a kubeadm ClusterConfiguration patch kleidi relies on.
type apiServerPatch struct {
	Kind      string `yaml:"kind"`
	APIServer struct {
		ExtraArgs    map[string]string `yaml:"extraArgs"`
		ExtraVolumes []struct {
			Name      string `yaml:"name"`
			HostPath  string `yaml:"hostPath"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"extraVolumes"`
	} `yaml:"apiServer"`
}

// kindConfig decodes the kind config as kind does (yaml.v3 with KnownFields,
// encoding.Parse) and checks that the apiserver sees the encryption config
// and the socket directory, and that the static pod is in the manifests dir.
func (v *validator) kindConfig(rel, socketDir string) {
	var c kindv1alpha4.Cluster
	d := yaml.NewDecoder(bytes.NewReader(v.read(rel)))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		v.fail(rel, "kind would reject it: %v", err)
		return
	}
	if c.APIVersion != "kind.x-k8s.io/v1alpha4" || c.Kind != "Cluster" {
		v.fail(rel, "apiVersion/kind must be kind.x-k8s.io/v1alpha4 Cluster")
	}
	var cp *kindv1alpha4.Node
	for i := range c.Nodes {
		if c.Nodes[i].Role == kindv1alpha4.ControlPlaneRole {
			cp = &c.Nodes[i]
		}
	}
	if cp == nil {
		v.fail(rel, "no control-plane node")
		return
	}
	mounted := map[string]bool{}
	for _, m := range cp.ExtraMounts {
		if _, err := os.Stat(v.path(m.HostPath)); err != nil {
			v.fail(rel, "extraMount hostPath %s does not exist (paths are relative to the repository root)", m.HostPath)
		}
		mounted[m.ContainerPath] = true
	}
	if !mounted["/etc/kubernetes/manifests/kleidi.yaml"] {
		v.fail(rel, "kleidi's static pod is not mounted into /etc/kubernetes/manifests")
	}
	var p apiServerPatch
	for _, raw := range cp.KubeadmConfigPatches {
		var probe apiServerPatch
		if err := yaml.Unmarshal([]byte(raw), &probe); err != nil {
			v.fail(rel, "kubeadmConfigPatches: %v", err)
		} else if probe.Kind == "ClusterConfiguration" {
			p = probe
		}
	}
	encCfg := p.APIServer.ExtraArgs["encryption-provider-config"]
	if !mounted[encCfg] {
		v.fail(rel, "--encryption-provider-config=%q is not one of the node's extraMounts", encCfg)
	}
	volumes := map[string]string{}
	for _, ev := range p.APIServer.ExtraVolumes {
		volumes[ev.MountPath] = ev.HostPath
	}
	if volumes[path.Dir(encCfg)] == "" || !strings.HasPrefix(encCfg, volumes[path.Dir(encCfg)]) {
		v.fail(rel, "the directory of %s is not an apiServer extraVolume", encCfg)
	}
	if volumes[socketDir] != socketDir {
		v.fail(rel, "the socket directory %s is not an apiServer extraVolume", socketDir)
	}
	v.pass(rel, "kind v1alpha4 strict decode; encryption config, socket dir and static pod wired into the control plane")
}
