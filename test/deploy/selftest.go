package main

// selfTest proves the checks bite: each broken input must be refused. If a
// library upgrade silently turned strict decoding off, this fails the run.
func (v *validator) selfTest() {
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: kube-system}\nspec:\n  hostNetwrok: true\n  containers: [{name: kleidi, image: x}]\n"
	if _, err := decodeAll([]byte(pod)); err == nil {
		v.fail("self-test", "a misspelt Pod field (hostNetwrok) was accepted: strict decoding is off")
	}
	wrongType := "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostNetwork: \"yes\"\n"
	if _, err := decodeAll([]byte(wrongType)); err == nil {
		v.fail("self-test", "a string for a boolean field was accepted")
	}
	cachesize := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {apiVersion: v2, name: kleidi, endpoint: unix:///x.sock, cachesize: 10}\n"
	if _, err := loadEncryptionConfig([]byte(cachesize)); err == nil {
		v.fail("self-test", "kms v2 with cachesize was accepted: apiserver validation is not applied")
	}
	typo := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms: {apiVersion: v2, name: kleidi, endpont: unix:///x.sock}\n"
	if _, err := loadEncryptionConfig([]byte(typo)); err == nil {
		v.fail("self-test", "a misspelt EncryptionConfiguration field was accepted")
	}
	if v.failures == 0 {
		v.pass("self-test", "strict decoding and apiserver validation refuse broken input")
	}
}
