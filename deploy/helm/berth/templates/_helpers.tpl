{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. If the release name already contains the chart name it
is used as is. Truncated to 52 characters, not the usual 63: it names the
StatefulSet, whose pods get the label controller-revision-hash=<name>-<10-char
hash>, and label values are limited to 63 characters.
*/}}
{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "berth.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "berth.labels" -}}
helm.sh/chart: {{ include "berth.chart" . }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: control-plane
app.kubernetes.io/part-of: berth
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels (immutable on the StatefulSet: never add to these).
*/}}
{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the headless Service that governs the StatefulSet.
*/}}
{{- define "berth.headlessServiceName" -}}
{{- printf "%s-headless" (include "berth.fullname" .) }}
{{- end }}

{{/*
Name of the ServiceAccount to use.
*/}}
{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the cluster-scoped RBAC objects. Cluster-scoped names must be unique in the
cluster, so the release namespace is part of them.
*/}}
{{- define "berth.clusterRbacName" -}}
{{- printf "%s-%s" .Release.Namespace (include "berth.fullname" .) }}
{{- end }}

{{/*
Container image reference: repository@digest, or repository:tag (tag defaults to
the chart's appVersion).
*/}}
{{- define "berth.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The in-cluster URL of berthd's Service, as pods in any namespace reach it:
http://<fullname>.<namespace>.svc:<service.port>.
*/}}
{{- define "berth.serviceUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "berth.fullname" .) .Release.Namespace (.Values.service.port | int) }}
{{- end }}

{{/*
Dev mode: the image dev pods copy the agent (/usr/local/bin/berth) from, by default
the image berthd runs; and the URL the agents reach berthd at, by default the
in-cluster Service.
*/}}
{{- define "berth.devAgentImage" -}}
{{- .Values.dev.agentImage | default (include "berth.image" .) }}
{{- end }}
{{- define "berth.devAgentUrl" -}}
{{- .Values.dev.agentUrl | default (include "berth.serviceUrl" .) }}
{{- end }}

{{/*
A TOML float: Helm turns 1.0 into 1, which TOML reads as an integer, so append ".0"
to whole numbers.
*/}}
{{- define "berth.tomlFloat" -}}
{{- $s := toString . }}
{{- if regexMatch "^-?[0-9]+$" $s }}{{ $s }}.0{{ else }}{{ $s }}{{ end }}
{{- end }}

{{/*
Milliseconds in a duration string matching ^[0-9]+(ms|s|m|h)$ (the schema enforces
that form).
*/}}
{{- define "berth.durationMillis" -}}
{{- $n := regexFind "^[0-9]+" . | int64 }}
{{- $unit := regexFind "[a-z]+$" . }}
{{- if eq $unit "ms" }}{{ $n }}
{{- else if eq $unit "s" }}{{ mul $n 1000 }}
{{- else if eq $unit "m" }}{{ mul $n 60000 }}
{{- else if eq $unit "h" }}{{ mul $n 3600000 }}
{{- else }}{{ fail (printf "berth: %q is not a duration like 500ms, 4s, 1m or 1h" .) }}
{{- end }}
{{- end }}

{{/*
A TOML array of strings from a list: ["a", "b"]. Each item goes through toJson,
which always yields a valid TOML basic string.
*/}}
{{- define "berth.tomlStringArray" -}}
[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ $v | toString | toJson }}{{ end }}]
{{- end }}

{{/*
A TOML inline table of strings from a map: { "requests.cpu" = "4", "pods" = "50" }.
Keys are quoted with toJson (they may contain dots, which TOML would otherwise read
as nesting); values go through toJson too. A whole number (YAML reads `pods: 50` as
a float) is rendered without a fractional part, so it stays a valid quantity.
*/}}
{{- define "berth.tomlStringTable" -}}
{{- $m := . -}}
{ {{- range $i, $k := keys $m | sortAlpha }}{{ if $i }},{{ end }} {{ $k | toJson }} = {{ include "berth.tomlQuantity" (get $m $k) }}{{ end }} }
{{- end }}
{{- define "berth.tomlQuantity" -}}
{{- if and (kindIs "float64" .) (eq (. | int64 | float64) .) }}{{ . | int64 | toString | toJson }}
{{- else }}{{ . | toString | toJson }}
{{- end }}
{{- end }}

{{/*
Seconds in a duration string matching
^[1-9][0-9]*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)$
(the schema enforces that form), with humantime's units.
*/}}
{{- define "berth.humantimeSeconds" -}}
{{- $n := regexFind "^[0-9]+" . | int64 }}
{{- $unit := regexFind "[a-z]+$" . }}
{{- if has $unit (list "s" "sec" "secs" "second" "seconds") }}{{ $n }}
{{- else if has $unit (list "m" "min" "mins" "minute" "minutes") }}{{ mul $n 60 }}
{{- else if has $unit (list "h" "hr" "hrs" "hour" "hours") }}{{ mul $n 3600 }}
{{- else if has $unit (list "d" "day" "days") }}{{ mul $n 86400 }}
{{- else if has $unit (list "w" "wk" "wks" "week" "weeks") }}{{ mul $n 604800 }}
{{- else }}{{ fail (printf "berth: %q is not a duration like 30s, 10m, 3h or 14days" .) }}
{{- end }}
{{- end }}

{{/*
Directory the OIDC client Secret is mounted at, the file berthd reads, and the
redirect URI to register at the provider (berthd trims trailing slashes from
server.public_url too).
*/}}
{{- define "berth.oidcSecretDir" -}}
/etc/berth/secrets/oidc
{{- end }}
{{- define "berth.oidcRedirectUri" -}}
{{- printf "%s/auth/oidc/callback" (regexReplaceAll "/+$" .Values.server.publicUrl "") }}
{{- end }}
{{- define "berth.oidcSecretFile" -}}
{{- printf "%s/%s" (include "berth.oidcSecretDir" .) .Values.auth.oidc.clientSecret.key }}
{{- end }}

{{/*
Directory the audit OTLP headers Secret is mounted at, and the file berthd reads.
*/}}
{{- define "berth.auditOtlpHeadersDir" -}}
/etc/berth/secrets/otlp
{{- end }}
{{- define "berth.auditOtlpHeadersFile" -}}
{{- printf "%s/%s" (include "berth.auditOtlpHeadersDir" .) .Values.audit.otlp.headers.key }}
{{- end }}

{{/*
Checks that need more than the JSON schema.
*/}}
{{- define "berth.validate" -}}
{{- $grace := include "berth.durationMillis" .Values.server.shutdownGrace | int64 }}
{{- $termination := mul (.Values.terminationGracePeriodSeconds | int64) 1000 }}
{{- if ge $grace $termination }}
{{- fail (printf "berth: server.shutdownGrace (%s) must be shorter than terminationGracePeriodSeconds (%ds), or the pod is killed before it finishes draining" .Values.server.shutdownGrace (.Values.terminationGracePeriodSeconds | int64)) }}
{{- end }}
{{- $oidc := .Values.auth.oidc }}
{{- if and (not .Values.auth.localAccounts) (not $oidc.enabled) }}
{{- fail "berth: auth.localAccounts=false needs auth.oidc.enabled=true: with neither local accounts nor single sign-on nobody could sign in (berthd refuses to start)" }}
{{- end }}
{{- if $oidc.enabled }}
{{- if not .Values.server.publicUrl }}
{{- fail "berth: auth.oidc.enabled=true needs server.publicUrl (e.g. https://berth.example.com): the OIDC redirect URI registered at the provider is <server.publicUrl>/auth/oidc/callback and must be stable" }}
{{- end }}
{{- if not $oidc.clientSecret.existingSecret }}
{{- fail "berth: auth.oidc.enabled=true needs auth.oidc.clientSecret.existingSecret: create a Secret holding the client secret (kubectl create secret generic berth-oidc --from-file=client-secret=./client-secret) and set its name there" }}
{{- end }}
{{- if not $oidc.issuerUrl }}
{{- fail "berth: auth.oidc.enabled=true needs auth.oidc.issuerUrl, the provider's issuer URL (e.g. https://idp.example.com/realms/dev)" }}
{{- end }}
{{- if not $oidc.clientId }}
{{- fail "berth: auth.oidc.enabled=true needs auth.oidc.clientId, the client ID registered at the provider" }}
{{- end }}
{{- end }}
{{- with .Values.spaces }}
{{- $profiles := .quotaProfiles | default dict }}
{{- if not (hasKey $profiles .defaultQuotaProfile) }}
{{- fail (printf "berth: spaces.defaultQuotaProfile %q is not a key of spaces.quotaProfiles (%s): every new space gets the default profile, so it must be defined. Set spaces.defaultQuotaProfile to one of those profiles, or add a profile named %q under spaces.quotaProfiles" .defaultQuotaProfile (keys $profiles | sortAlpha | join ", ") .defaultQuotaProfile) }}
{{- end }}
{{- with .idleDelete }}
{{- $sleep := include "berth.humantimeSeconds" $.Values.spaces.idleSleep | int64 }}
{{- $delete := include "berth.humantimeSeconds" . | int64 }}
{{- if le $delete $sleep }}
{{- fail (printf "berth: spaces.idleDelete (%s) must be longer than spaces.idleSleep (%s): an idle space is put to sleep first and deleted later (berthd refuses to start otherwise). Raise idleDelete, or set it to \"\" to never delete idle spaces" . $.Values.spaces.idleSleep) }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.apps.timeout }}
{{- $timeout := include "berth.humantimeSeconds" . | int64 }}
{{- if or (lt $timeout 10) (gt $timeout 3600) }}
{{- fail (printf "berth: apps.timeout (%s) must be between 10s and 1h: it is how long one Helm install, upgrade or uninstall may take (berthd refuses to start otherwise)" .) }}
{{- end }}
{{- end }}
{{- with .Values.audit.otlp }}
{{- if and .headers.existingSecret (not .endpoint) }}
{{- fail (printf "berth: audit.otlp.headers.existingSecret (%s) is set but audit.otlp.endpoint is empty: berthd reads the headers file only when it ships the audit log to a collector. Set audit.otlp.endpoint (e.g. http://otel-collector:4318) or clear audit.otlp.headers.existingSecret" .headers.existingSecret) }}
{{- end }}
{{- end }}
{{- end }}
