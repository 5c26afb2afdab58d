{{/* Names and labels. */}}
{{- define "medic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "medic.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "medic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "medic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: medic
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "api") */}}
{{- define "medic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "medic.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "medic.componentLabels" -}}
{{ include "medic.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "medic.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "medic.secretName" -}}
{{- default (include "medic.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{- define "medic.configMapName" -}}
{{- default (printf "%s-config" (include "medic.fullname" .)) .Values.config.existingConfigMap -}}
{{- end -}}

{{- define "medic.runbooksConfigMapName" -}}
{{- default (printf "%s-runbooks" (include "medic.fullname" .)) .Values.config.existingRunbooksConfigMap -}}
{{- end -}}

{{/* The Temporal frontend's port, from host:port (for the NetworkPolicy). */}}
{{- define "medic.temporalPort" -}}
{{- $parts := splitList ":" .Values.temporal.address -}}
{{- if gt (len $parts) 1 -}}{{ last $parts }}{{- else -}}7233{{- end -}}
{{- end -}}

{{/* The webhook token: from values, else the one already in the cluster, else a new one. */}}
{{- define "medic.webhookToken" -}}
{{- $given := .Values.secret.values.MEDIC_WEBHOOK_TOKEN -}}
{{- if $given -}}
{{- $given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "medic.fullname" .) -}}
{{- if and $existing $existing.data (hasKey $existing.data "MEDIC_WEBHOOK_TOKEN") -}}
{{- index $existing.data "MEDIC_WEBHOOK_TOKEN" | b64dec -}}
{{- else -}}
{{- randAlphaNum 48 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The secret settings, each by secretKeyRef; (dict "ctx" $ "required" (list "MEDIC_WEBHOOK_TOKEN")). */}}
{{- define "medic.secretEnv" -}}
{{- $ctx := .ctx -}}
{{- $required := .required | default list -}}
{{- range $key := list "MEDIC_WEBHOOK_TOKEN" "MEDIC_WEBHOOK_TOKEN_PREVIOUS" "MEDIC_OPERATOR_TOKEN" "MEDIC_SLACK_BOT_TOKEN" "MEDIC_SLACK_SIGNING_SECRET" "MEDIC_PAGERDUTY_ROUTING_KEY" "MEDIC_PAGERDUTY_ROUTING_KEYS" "MEDIC_JIRA_API_TOKEN" "MEDIC_READ_TOKEN" "MEDIC_LINK_SECRET" "MEDIC_PAGERDUTY_WEBHOOK_SECRET" "MEDIC_OPSGENIE_WEBHOOK_SECRET" "MEDIC_JIRA_WEBHOOK_SECRET" "MEDIC_OPSGENIE_API_KEY" "MEDIC_OPSGENIE_API_KEYS" "MEDIC_TEAMS_WEBHOOKS" "MEDIC_JIRA_PAT" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "medic.secretName" $ctx }}
      key: {{ $key }}
      optional: {{ not (has $key $required) }}
{{- end }}
{{ include "medic.temporalApiKeyEnv" $ctx }}
{{- end -}}

{{- define "medic.temporalApiKeyEnv" -}}
- name: MEDIC_TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ default (include "medic.secretName" .) .Values.temporal.apiKey.existingSecret }}
      key: {{ .Values.temporal.apiKey.key }}
      optional: {{ not .Values.temporal.apiKey.existingSecret }}
{{- end -}}

{{/* The Temporal connection as these values give it, inline, for the setup hook Job: at pre-upgrade
the env ConfigMap (not a hook) still holds the release before's address and namespace. config.extra's
MEDIC_TEMPORAL_* (a profile, the RPC timeout) go with them. */}}
{{- define "medic.temporalEnv" -}}
- name: MEDIC_TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: MEDIC_TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: MEDIC_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: MEDIC_LOG_JSON
  value: {{ .Values.config.logJson | toString | quote }}
{{- range $key, $value := .Values.config.extra }}
{{- if hasPrefix "MEDIC_TEMPORAL_" $key }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{ include "medic.temporalApiKeyEnv" . }}
{{- include "medic.temporalTlsEnv" . }}
{{- end -}}

{{/* TLS to Temporal: settings pointing at the mounted files. */}}
{{- define "medic.temporalTlsEnv" -}}
{{- $tls := .Values.temporal.tls -}}
{{- if $tls.enabled }}
- name: MEDIC_TEMPORAL_TLS
  value: "true"
{{- with $tls.serverName }}
- name: MEDIC_TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if $tls.existingSecret }}
{{- with $tls.caKey }}
- name: MEDIC_TEMPORAL_TLS_CA
  value: {{ printf "/etc/medic/temporal-tls/%s" . | quote }}
{{- end }}
{{- with $tls.certKey }}
- name: MEDIC_TEMPORAL_TLS_CERT
  value: {{ printf "/etc/medic/temporal-tls/%s" . | quote }}
{{- end }}
{{- with $tls.keyKey }}
- name: MEDIC_TEMPORAL_TLS_KEY
  value: {{ printf "/etc/medic/temporal-tls/%s" . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Everything both containers (and the init/setup containers) read. */}}
{{- define "medic.env" -}}
{{- include "medic.secretEnv" (dict "ctx" .ctx "required" .required) }}
{{- include "medic.temporalTlsEnv" .ctx }}
{{- end -}}

{{- define "medic.envFrom" -}}
- configMapRef:
    name: {{ include "medic.fullname" . }}-env
{{- end -}}

{{/* Volumes shared by both pods: the configuration, the Temporal certificates, scratch space. */}}
{{- define "medic.volumes" -}}
- name: config
  configMap:
    name: {{ include "medic.configMapName" . }}
    optional: true
- name: runbooks
  configMap:
    name: {{ include "medic.runbooksConfigMapName" . }}
    optional: true
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: data
  emptyDir:
    sizeLimit: 256Mi
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- with .Values.config.prometheusAuth.existingSecret }}
- name: prometheus-auth
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- with .Values.config.alertmanagerAuth.existingSecret }}
- name: alertmanager-auth
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- with .Values.config.lokiAuth.existingSecret }}
- name: loki-auth
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "medic.volumeMounts" -}}
- name: config
  mountPath: /etc/medic/config
  readOnly: true
- name: runbooks
  mountPath: /etc/medic/runbooks
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/medic
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/medic/temporal-tls
  readOnly: true
{{- end }}
{{- if .Values.config.prometheusAuth.existingSecret }}
- name: prometheus-auth
  mountPath: /etc/medic/prometheus
  readOnly: true
{{- end }}
{{- if .Values.config.alertmanagerAuth.existingSecret }}
- name: alertmanager-auth
  mountPath: /etc/medic/alertmanager
  readOnly: true
{{- end }}
{{- if .Values.config.lokiAuth.existingSecret }}
- name: loki-auth
  mountPath: /etc/medic/loki
  readOnly: true
{{- end }}
{{- end -}}

{{/* Spread over zones and nodes unless told otherwise: (dict "ctx" $ "component" "api" "values" .Values.api) */}}
{{- define "medic.topologySpread" -}}
{{- if .values.topologySpreadConstraints -}}
{{ toYaml .values.topologySpreadConstraints }}
{{- else -}}
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
- maxSkew: 1
  topologyKey: {{ $key }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "medic.selectorLabels" (dict "ctx" $.ctx "component" $.component) | nindent 6 }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* An init container that runs `medic check` on the mounted files; not without a catalog (MEDIC_CATALOG
names the file the chart would mount, and a file named that is missing fails the check, though Medic runs
without one: correlation falls back to Alertmanager's groups, as NOTES says). */}}
{{- define "medic.checkContainer" -}}
{{- if and .Values.config.checkOnStart (or .Values.config.catalog .Values.config.existingConfigMap) }}
- name: check
  image: {{ include "medic.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: [check]
  envFrom:
    {{- include "medic.envFrom" . | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  resources:
    requests: {cpu: 50m, memory: 96Mi}
    limits: {memory: 256Mi}
  volumeMounts:
    {{- include "medic.volumeMounts" . | nindent 4 }}
{{- end }}
{{- end -}}

{{/* Checksums that roll the pods when their configuration changes. */}}
{{- define "medic.checksums" -}}
checksum/env: {{ include (print .Template.BasePath "/configmap-env.yaml") . | sha256sum }}
checksum/config: {{ include (print .Template.BasePath "/configmap-config.yaml") . | sha256sum }}
{{- if not .Values.secret.existingSecret }}
checksum/secret-values: {{ toJson .Values.secret.values | sha256sum }}
{{- end }}
{{- end -}}

{{/* The Alertmanager receiver that hands alerts to Medic (NOTES.txt; checked by amtool in the tests). */}}
{{- define "medic.alertmanagerReceiver" -}}
route:
  receiver: {{ .Values.alertmanager.receiverName }}
  group_by: [alertname, service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    # kube-prometheus's Watchdog always fires: Medic takes it as a heartbeat and tells you when it
    # stops coming (docs/heartbeats.md). Sent every 2 minutes (a repeat goes out on the group's next
    # tick), well within Medic's missing_after (15 min). kube-prometheus-stack's own route of Watchdog
    # to "null" must go: the first route that matches takes it.
    - receiver: {{ .Values.alertmanager.receiverName }}
      matchers: ['alertname="Watchdog"']
      group_by: [prometheus, cluster]
      group_wait: 0s
      group_interval: 1m
      repeat_interval: 1m
    # kube-prometheus's InfoInhibitor is about other alerts, not an outage (Medic ignores it anyway:
    # routing policy `ignore:`); as kube-prometheus-stack does, it goes nowhere and only inhibits.
    - receiver: "null"
      matchers: ['alertname="InfoInhibitor"']
# kube-prometheus-stack's rule (charts/kube-prometheus-stack/values.yaml): a namespace's info alerts
# (CPUThrottlingHigh, KubeQuotaAlmostFull...) reach Medic only beside a warning or critical alert there.
# One inhibited when it resolves is never sent resolved: Medic asks Alertmanager about it
# (MEDIC_ALERTMANAGER_URL, docs/notifications.md), else its incident stays open.
inhibit_rules:
  - source_matchers: ['alertname="InfoInhibitor"']
    target_matchers: ['severity="info"']
    equal: [namespace]
receivers:
  - name: "null"
  - name: {{ .Values.alertmanager.receiverName }}
    webhook_configs:
      - url: http://{{ include "medic.fullname" . }}-api.{{ .Release.Namespace }}.svc:{{ .Values.api.service.port }}/webhooks/alertmanager
        send_resolved: true
        max_alerts: {{ .Values.alertmanager.maxAlerts }}
        http_config:
          authorization:
            type: Bearer
            credentials_file: {{ .Values.alertmanager.credentialsFile }}
{{- end -}}

{{- /* Where anomaly scans keep their state (MEDIC_SCAN_STATE): scanState.backend, or for "auto" ConfigMaps
when scans may run (the chart ships them, config.anomaly, or a ConfigMap of your own may hold an
anomaly.yaml) and files (no token, no Role) when none can. Files are each pod's emptyDir: with the
chart's scans and more than one worker a run on another pod than the last would report old anomalies
again, so that is refused (with a ConfigMap of your own the chart cannot tell: file is taken as
chosen). */ -}}
{{- define "medic.scanBackend" -}}
{{- $s := .Values.scanState -}}
{{- $shipped := trim (.Values.config.anomaly | default "") -}}
{{- $scans := or $shipped .Values.config.existingConfigMap -}}
{{- $w := .Values.worker -}}
{{- $backend := $s.backend -}}
{{- if eq $backend "auto" -}}
{{- $backend = ternary "configmap" "file" (not (empty $scans)) -}}
{{- end -}}
{{- if and (eq $backend "file") (not (empty $shipped)) (or (gt (int $w.replicas) 1) (and $w.autoscaling.enabled (gt (int $w.autoscaling.maxReplicas) 1))) -}}
{{- fail "scanState.backend: file keeps each worker pod's scan state in its own emptyDir, lost on restart: with more than one worker, a scan run on another pod than the last reports old anomalies again. Use scanState.backend: configmap (or auto, the default), or worker.replicas: 1." -}}
{{- end -}}
{{- $backend -}}
{{- end -}}

{{/* The TCP port of a URL: its own, else 443 for https and 80 for http. */}}
{{- define "medic.urlPort" -}}
{{- $u := urlParse . -}}
{{- $port := regexFind ":[0-9]+$" $u.host -}}
{{- if $port }}{{ trimPrefix ":" $port }}{{ else if eq $u.scheme "https" }}443{{ else }}80{{ end -}}
{{- end -}}
