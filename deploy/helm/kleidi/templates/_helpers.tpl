{{/* Chart name, release-scoped full name and labels (Helm's standard helpers). */}}
{{- define "kleidi.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kleidi.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kleidi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kleidi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kleidi.labels" -}}
{{ include "kleidi.selectorLabels" . }}
app.kubernetes.io/component: kms-plugin
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kleidi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kleidi.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Whether /metrics must be reachable from other hosts. */}}
{{- define "kleidi.exposeMetrics" -}}
{{- if or .Values.http.exposeMetrics .Values.serviceMonitor.enabled -}}true{{- end -}}
{{- end -}}

{{/* Vault secret files: [values key, config field, file name under /etc/kleidi/secrets/vault]. */}}
{{- define "kleidi.vaultFileTable" -}}
[["token","tokenFile","token"],["roleId","roleIdFile","role-id"],["secretId","secretIdFile","secret-id"],["ca","caFile","ca.crt"],["clientCert","clientCertFile","client.crt"],["clientKey","clientKeyFile","client.key"]]
{{- end -}}

{{/* Delinea secret files: [values key, config field, file name under /etc/kleidi/secrets/delinea]. */}}
{{- define "kleidi.delineaFileTable" -}}
[["credential","credentialFile","credential"],["ca","caFile","ca.crt"]]
{{- end -}}

{{/* kleidi's YAML config (docs/configuration.md); secrets appear only as file paths. */}}
{{- define "kleidi.config" -}}
{{- $v := .Values -}}
{{- if not (has $v.backend (list "local" "pkcs11" "vault" "aws" "gcp" "azure" "delinea" "tpm")) -}}
{{- fail (printf "backend must be local, pkcs11, vault, aws, gcp, azure, delinea or tpm, not %q" $v.backend) -}}
{{- end -}}
backend: {{ $v.backend }}
# socket and httpAddress come from the pod's environment (container paths, the pod IP).
socketMode: {{ $v.socket.mode | quote }}
{{- with $v.socket.group }}
socketGroup: {{ . | quote }}
{{- end }}
stateDir: /var/lib/kleidi
refreshInterval: {{ $v.refreshInterval | quote }}
shutdownGrace: {{ $v.shutdownGrace | quote }}
logLevel: {{ $v.logLevel }}
{{- if eq $v.backend "local" }}
local:
  {{- if $v.local.keyringFile }}
  keyringFile: {{ $v.local.keyringFile | quote }}
  {{- else }}
  {}
  {{- end }}
{{- else if eq $v.backend "pkcs11" }}
pkcs11:
  module: {{ $v.pkcs11.module | quote }}
  {{- if $v.pkcs11.tokenLabel }}
  tokenLabel: {{ $v.pkcs11.tokenLabel | quote }}
  {{- else if $v.pkcs11.tokenSerial }}
  tokenSerial: {{ $v.pkcs11.tokenSerial | quote }}
  {{- else }}
  slot: {{ required "pkcs11: set one of tokenLabel, tokenSerial or slot" $v.pkcs11.slot }}
  {{- end }}
  keyLabel: {{ $v.pkcs11.keyLabel | quote }}
  {{- if $v.pkcs11.pinSecret.name }}
  pinFile: /etc/kleidi/secrets/pkcs11/pin
  {{- end }}
{{- else if eq $v.backend "aws" }}
aws:
  key: {{ $v.aws.key | quote }}
  region: {{ required "aws.region is required" $v.aws.region | quote }}
  {{- with $v.aws.endpoint }}
  endpoint: {{ . | quote }}
  {{- end }}
  useFipsEndpoint: {{ $v.aws.useFipsEndpoint }}
{{- else if eq $v.backend "gcp" }}
gcp:
  key: {{ required "gcp.key is required (projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>)" $v.gcp.key | quote }}
  {{- with $v.gcp.endpoint }}
  endpoint: {{ . | quote }}
  {{- end }}
  {{- if eq $v.gcp.credentials.source "secret" }}
  credentialsFile: /etc/kleidi/secrets/gcp/credentials.json
  {{- end }}
{{- else if eq $v.backend "azure" }}
{{- $az := $v.azure }}
azure:
  {{- if $az.vaultUrl }}
  vaultUrl: {{ $az.vaultUrl | quote }}
  {{- else }}
  vaultName: {{ required "azure.vaultUrl or azure.vaultName is required" $az.vaultName | quote }}
  managedHsm: {{ $az.managedHsm }}
  {{- end }}
  keyName: {{ $az.keyName | quote }}
  {{- with $az.cloud }}
  cloud: {{ . }}
  {{- end }}
  {{- with $az.tenantId }}
  tenantId: {{ . | quote }}
  {{- end }}
  {{- with $az.clientId }}
  clientId: {{ . | quote }}
  {{- end }}
  {{- if eq $az.credential "managedIdentity" }}
  credential: managed-identity
  {{- else if eq $az.credential "workloadIdentity" }}
  credential: workload-identity
  federatedTokenFile: /var/run/secrets/kleidi/azure/token
  {{- else if eq $az.credential "clientSecret" }}
  credential: client-secret
  clientSecretFile: /etc/kleidi/secrets/azure/client-secret
  {{- else }}
  credential: azure-json
  azureJsonFile: /etc/kleidi/secrets/azure/azure.json
  {{- end }}
{{- else if eq $v.backend "delinea" }}
{{- $d := $v.delinea }}
delinea:
  mode: {{ $d.mode }}
  url: {{ required "delinea.url is required" $d.url | quote }}
  grant: {{ $d.grant }}
  username: {{ required "delinea.username is required" $d.username | quote }}
  tokenPath: {{ $d.tokenPath | quote }}
  {{- if eq $d.mode "remote" }}
  keyPath: {{ required "delinea.keyPath is required in remote mode" $d.keyPath | quote }}
  {{- else }}
  secretId: {{ required "delinea.secretId is required in kek-source mode" $d.secretId }}
  field: {{ $d.field | quote }}
  {{- end }}
  {{- $_ := required "delinea.secrets.credential.name is required" $d.secrets.credential.name }}
  {{- range $f := include "kleidi.delineaFileTable" . | fromJsonArray }}
  {{- if (index $d.secrets (index $f 0)).name }}
  {{ index $f 1 }}: /etc/kleidi/secrets/delinea/{{ index $f 2 }}
  {{- end }}
  {{- end }}
{{- else if eq $v.backend "tpm" }}
{{- $t := $v.tpm }}
{{- $_ := required "tpm.deviceResource is required: the extended resource a TPM device plugin advertises (docs/backends/tpm.md)" $t.deviceResource }}
tpm:
  device: {{ $t.device | quote }}
  {{- if $t.nodeKeyFile }}
  nodeKeyFile: {{ $t.nodeKeyFile | quote }}
  {{- end }}
  {{- if $t.authSecret.name }}
  authFile: /etc/kleidi/secrets/tpm/auth
  {{- end }}
{{- else }}
vault:
  address: {{ required "vault.address is required" $v.vault.address | quote }}
  mount: {{ $v.vault.mount | quote }}
  key: {{ $v.vault.key | quote }}
  authMethod: {{ $v.vault.authMethod }}
  {{- range $k, $v2 := dict "namespace" $v.vault.namespace "authMount" $v.vault.authMount "role" $v.vault.role "tlsServerName" $v.vault.tlsServerName }}
  {{- if $v2 }}
  {{ $k }}: {{ $v2 | quote }}
  {{- end }}
  {{- end }}
  {{- range $f := include "kleidi.vaultFileTable" . | fromJsonArray }}
  {{- if (index $v.vault.secrets (index $f 0)).name }}
  {{ index $f 1 }}: /etc/kleidi/secrets/vault/{{ index $f 2 }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end -}}
