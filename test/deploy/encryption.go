package main

import (
	"net/url"
	"path"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/apis/apiserver"
	apiserverinstall "k8s.io/apiserver/pkg/apis/apiserver/install"
	"k8s.io/apiserver/pkg/apis/apiserver/validation"
)

// encryptionCodecs decodes apiserver.config.k8s.io strictly, as kube-apiserver
// loads --encryption-provider-config (encryptionconfig.loadConfig).
var encryptionCodecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	apiserverinstall.Install(s)
	return serializer.NewCodecFactory(s, serializer.EnableStrict)
}()

// loadEncryptionConfig decodes (strict, defaulted, internal version) and validates like kube-apiserver.
func loadEncryptionConfig(data []byte) (*apiserver.EncryptionConfiguration, error) {
	obj, _, err := encryptionCodecs.UniversalDecoder(apiserver.SchemeGroupVersion).Decode(data, nil, nil)
	if err != nil {
		return nil, err
	}
	cfg, ok := obj.(*apiserver.EncryptionConfiguration)
	if !ok {
		return nil, errUnexpected("EncryptionConfiguration", obj)
	}
	if errs := validation.ValidateEncryptionConfiguration(cfg, false); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return cfg, nil
}

// encryptionConfig validates the example and checks it is the kleidi setup
// docs/operations.md describes; it returns the socket's directory.
func (v *validator) encryptionConfig(rel string) string {
	cfg, err := loadEncryptionConfig(v.read(rel))
	if err != nil {
		v.fail(rel, "kube-apiserver would reject it: %v", err)
		return "/var/run/kleidi"
	}
	var socketDir string
	for _, r := range cfg.Resources {
		if !contains(r.Resources, "secrets") || !contains(r.Resources, "configmaps") {
			v.fail(rel, "resources %v: expected secrets and configmaps", r.Resources)
		}
		first, last := r.Providers[0], r.Providers[len(r.Providers)-1]
		switch {
		case first.KMS == nil:
			v.fail(rel, "the first provider (the one that writes) must be kms")
		case first.KMS.APIVersion != "v2" || first.KMS.Name != "kleidi":
			v.fail(rel, "kms provider must be apiVersion v2 named kleidi, got %s/%s", first.KMS.APIVersion, first.KMS.Name)
		case first.KMS.Timeout == nil || first.KMS.Timeout.Duration != 3*time.Second:
			v.fail(rel, "kms timeout should be the 3s kleidi's deadlines are tuned for")
		default:
			u, _ := url.Parse(first.KMS.Endpoint)
			socketDir = path.Dir(u.Path)
		}
		if last.Identity == nil {
			v.fail(rel, "the last provider must be identity, so data written before encryption stays readable")
		}
	}
	v.pass(rel, "strict decode + kube-apiserver validation; kms v2 \"kleidi\" first, identity last; socket dir "+socketDir)
	return socketDir
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
