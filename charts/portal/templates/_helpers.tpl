{{/* Chart name, truncated for label values. */}}
{{- define "portal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: the release name unless overridden. */}}
{{- define "portal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portal.labels" -}}
{{ include "portal.selectorLabels" . }}
app.kubernetes.io/version: {{ include "portal.imageTag" . | quote }}
app.kubernetes.io/part-of: dokportal
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "portal.serviceAccountName" -}}
{{- default (include "portal.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "portal.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "portal.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "portal.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{- define "portal.publicBaseUrl" -}}
{{- default (printf "https://%s" .Values.ingress.hostname) .Values.publicBaseUrl -}}
{{- end -}}

{{/* Does the pod mount a volume at /data? (folder storage or SQLite) */}}
{{- define "portal.usesVolume" -}}
{{- if or (eq .Values.storage.kind "folder") (eq .Values.database.kind "sqlite") -}}true{{- end -}}
{{- end -}}

{{- define "portal.claimName" -}}
{{- default (printf "%s-data" (include "portal.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Fail early with a message an administrator understands. */}}
{{- define "portal.validateValues" -}}
{{- if not .Values.keyring.existingSecret -}}
{{- fail "keyring.existingSecret is required: a Secret with keyring.json (create one with `dokportal keys init`)" -}}
{{- end -}}
{{- if not .Values.sessionSecret.existingSecret -}}
{{- fail "sessionSecret.existingSecret is required: a Secret with the key session-secret (at least 32 random characters)" -}}
{{- end -}}
{{- if and (eq .Values.database.kind "sqlite") (gt (int .Values.replicaCount) 1) -}}
{{- fail "database.kind=sqlite allows only one replica: set replicaCount to 1 or use postgresql" -}}
{{- end -}}
{{- if and (eq .Values.database.kind "postgresql") (not .Values.database.existingSecret) -}}
{{- fail "database.kind=postgresql needs database.existingSecret (a Secret with the postgresql:// URL)" -}}
{{- end -}}
{{- if and (eq .Values.storage.kind "s3") (not (and .Values.storage.s3.endpoint .Values.storage.s3.bucket .Values.storage.s3.existingSecret)) -}}
{{- fail "storage.kind=s3 needs storage.s3.endpoint, storage.s3.bucket and storage.s3.existingSecret" -}}
{{- end -}}
{{- if not (has .Values.tenant.defaultLanguage .Values.tenant.languages) -}}
{{- fail (printf "tenant.defaultLanguage %q is not among tenant.languages" .Values.tenant.defaultLanguage) -}}
{{- end -}}
{{- if and .Values.virusScan.enabled (lt (int .Values.virusScan.streamMaxMB) (int .Values.upload.maxFileMB)) -}}
{{- fail "virusScan.streamMaxMB must be at least upload.maxFileMB, or large files could never be scanned" -}}
{{- end -}}
{{- if and .Values.rewrap.enabled (not .Values.keyring.primaryKeyId) -}}
{{- fail "rewrap.enabled needs keyring.primaryKeyId (the new primary the Job rewraps to)" -}}
{{- end -}}
{{- end -}}

{{/* Non-secret settings: the ConfigMap's data, and the Jobs' environment. */}}
{{- define "portal.config" -}}
DOKPORTAL_TENANT__NAME: {{ .Values.tenant.name | quote }}
DOKPORTAL_TENANT__SLUG: {{ .Values.tenant.slug | quote }}
DOKPORTAL_TENANT__KIND: {{ .Values.tenant.kind | quote }}
DOKPORTAL_TENANT__REFERENCE_PREFIX: {{ .Values.tenant.referencePrefix | quote }}
DOKPORTAL_TENANT__LANGUAGES: {{ join "," .Values.tenant.languages | quote }}
DOKPORTAL_TENANT__DEFAULT_LANGUAGE: {{ .Values.tenant.defaultLanguage | quote }}
DOKPORTAL_TENANT__TIMEZONE: {{ .Values.tenant.timezone | quote }}
DOKPORTAL_TENANT__CATEGORIES: {{ join "," .Values.tenant.categories | quote }}
{{- with .Values.tenant.contactEmail }}
DOKPORTAL_TENANT__CONTACT_EMAIL: {{ . | quote }}
{{- end }}
DOKPORTAL_TENANT__IMPRINT_URL: {{ .Values.tenant.imprintUrl | quote }}
DOKPORTAL_TENANT__PRIVACY_URL: {{ .Values.tenant.privacyUrl | quote }}
DOKPORTAL_TENANT__PRIMARY_COLOR: {{ .Values.tenant.primaryColor | quote }}
DOKPORTAL_PUBLIC_BASE_URL: {{ include "portal.publicBaseUrl" . | quote }}
DOKPORTAL_UPLOAD__MAX_FILE_MB: {{ .Values.upload.maxFileMB | quote }}
DOKPORTAL_UPLOAD__MAX_FILES: {{ .Values.upload.maxFiles | quote }}
DOKPORTAL_KEYRING_PATH: "/etc/dokportal/keyring/keyring.json"
{{- /* With fsGroup the kubelet makes the mounted Secret 0440, readable by the pod's own
group 10001; the portal refuses a group-readable keyring unless told (and then warns). */}}
DOKPORTAL_KEYRING_ALLOW_SHARED: "true"
DOKPORTAL_STORAGE__KIND: {{ .Values.storage.kind | quote }}
{{- if eq .Values.storage.kind "s3" }}
DOKPORTAL_STORAGE__S3_ENDPOINT: {{ .Values.storage.s3.endpoint | quote }}
DOKPORTAL_STORAGE__S3_BUCKET: {{ .Values.storage.s3.bucket | quote }}
DOKPORTAL_STORAGE__S3_REGION: {{ .Values.storage.s3.region | quote }}
DOKPORTAL_STORAGE__S3_PATH_STYLE: {{ .Values.storage.s3.pathStyle | quote }}
{{- else }}
DOKPORTAL_STORAGE__FOLDER: "/data/blobs"
{{- end }}
{{- if eq .Values.database.kind "sqlite" }}
DOKPORTAL_DATABASE_URL: "sqlite:////data/dokportal.sqlite3"
{{- end }}
DOKPORTAL_LOG__FORMAT: {{ .Values.logging.format | quote }}
{{- if .Values.metrics.enabled }}
{{- /* Its own listener on the pod address; only the metrics Service and the NetworkPolicy
rule for the scrape namespace lead to it, never the Ingress. */}}
DOKPORTAL_METRICS__PORT: {{ .Values.metrics.port | quote }}
DOKPORTAL_METRICS__HOST: "0.0.0.0"
{{- end }}
{{- if .Values.virusScan.enabled }}
DOKPORTAL_SCAN__CLAMD: {{ include "portal.clamdUrl" . | quote }}
DOKPORTAL_SCAN__STREAM_MAX_MB: {{ .Values.virusScan.streamMaxMB | quote }}
{{- end }}
{{- end -}}

{{/* clamd (templates/clamd.yaml): labels that the portal's own selectors do not match. */}}
{{- define "portal.clamdSelectorLabels" -}}
app.kubernetes.io/name: clamav
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: clamd
{{- end -}}

{{- define "portal.clamdLabels" -}}
{{ include "portal.clamdSelectorLabels" . }}
app.kubernetes.io/part-of: dokportal
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "portal.clamdUrl" -}}
{{- default (printf "tcp://%s-clamd:3310" (include "portal.fullname" .)) .Values.virusScan.externalUrl -}}
{{- end -}}

{{- define "portal.clamdImage" -}}
{{- if .Values.virusScan.image.digest -}}
{{- printf "%s@%s" .Values.virusScan.image.repository .Values.virusScan.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.virusScan.image.repository .Values.virusScan.image.tag -}}
{{- end -}}
{{- end -}}

{{- define "portal.clamdMounts" -}}
- name: config
  mountPath: /etc/clamav-dokportal
  readOnly: true
- name: signatures
  mountPath: /var/lib/clamav
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Secret settings, as container env entries (shared by the Deployment and the Jobs). */}}
{{- define "portal.secretEnv" -}}
- name: DOKPORTAL_SESSION_SECRET
  valueFrom:
    secretKeyRef: {name: {{ .Values.sessionSecret.existingSecret | quote }}, key: session-secret}
{{- if eq .Values.storage.kind "s3" }}
- name: DOKPORTAL_STORAGE__S3_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.storage.s3.existingSecret | quote }}, key: access-key}
- name: DOKPORTAL_STORAGE__S3_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.storage.s3.existingSecret | quote }}, key: secret-key}
{{- end }}
{{- if eq .Values.database.kind "postgresql" }}
- name: DOKPORTAL_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.database.existingSecret | quote }}, key: {{ .Values.database.urlKey | quote }}}
{{- end }}
{{- end -}}

{{/* Pod Security "restricted": non-root, no privilege escalation, no capabilities. */}}
{{- define "portal.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "portal.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Volumes every portal process needs: /tmp, the keyring, and /data when used. */}}
{{- define "portal.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: keyring
  secret:
    secretName: {{ .Values.keyring.existingSecret | quote }}
    defaultMode: 0400
{{- if include "portal.usesVolume" . }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "portal.claimName" . | quote }}
{{- end }}
{{- end -}}

{{- define "portal.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: keyring
  mountPath: /etc/dokportal/keyring
  readOnly: true
{{- if include "portal.usesVolume" . }}
- name: data
  mountPath: /data
{{- end }}
{{- end -}}

{{/* A one-shot Job running a `dokportal` command with the portal's configuration. */}}
{{- define "portal.jobSpec" -}}
backoffLimit: 3
template:
  metadata:
    labels:
      {{- include "portal.selectorLabels" .root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
  spec:
    restartPolicy: Never
    serviceAccountName: {{ include "portal.serviceAccountName" .root }}
    {{- include "portal.scheduling" .root | nindent 4 }}
    automountServiceAccountToken: false
    securityContext:
      {{- include "portal.podSecurityContext" .root | nindent 6 }}
    containers:
      - name: {{ .component }}
        image: {{ include "portal.image" .root | quote }}
        imagePullPolicy: {{ .root.Values.image.pullPolicy }}
        args: {{ toJson .args }}
        env:
          {{- range $name, $value := (include "portal.config" .root | fromYaml) }}
          - name: {{ $name }}
            value: {{ $value | quote }}
          {{- end }}
          {{- include "portal.secretEnv" .root | nindent 10 }}
        resources:
          {{- toYaml .root.Values.resources | nindent 10 }}
        securityContext:
          {{- include "portal.containerSecurityContext" .root | nindent 10 }}
        volumeMounts:
          {{- include "portal.volumeMounts" .root | nindent 10 }}
    volumes:
      {{- include "portal.volumes" .root | nindent 6 }}
{{- end -}}

{{/* Scheduling of the portal's pods (web and Jobs): the knobs of values.yaml. clamd gets
the node-level ones (portal.nodeScheduling), not the affinity written for the portal pods. */}}
{{- define "portal.scheduling" -}}
{{- include "portal.nodeScheduling" . }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "portal.nodeScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "portal.topologySpread" -}}
{{- $root := . -}}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- range . }}
  {{- $constraint := . }}
  {{- if not .labelSelector }}
  {{- $constraint = merge (dict "labelSelector" (dict "matchLabels" (merge (include "portal.selectorLabels" $root | fromYaml) (dict "app.kubernetes.io/component" "web")))) . }}
  {{- end }}
  - {{- toYaml $constraint | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}
