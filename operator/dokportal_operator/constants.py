"""Names the operator writes into the cluster. Changing any of them later makes every existing
object look foreign (or makes kopf handle every Portal again): they are fixed on day one."""

from __future__ import annotations

from typing import Final

GROUP: Final = "dokportal.dev"
VERSION: Final = "v1alpha1"
PLURAL: Final = "portals"
KIND: Final = "Portal"
API_VERSION: Final = f"{GROUP}/{VERSION}"

# kopf's own bookkeeping, under our domain rather than kopf.zalando.org.
FINALIZER: Final = f"{GROUP}/finalizer"
PROGRESS_PREFIX: Final = GROUP
DIFFBASE_ANNOTATION: Final = f"{GROUP}/last-handled-configuration"

# Server-side apply: every field the operator sets is owned by this manager.
FIELD_MANAGER: Final = "dokportal-operator"

# Labels on everything the operator makes.
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "dokportal-operator"
PORTAL_LABEL: Final = f"{GROUP}/portal"
PART_LABEL: Final = f"{GROUP}/part"
PART_NAMESPACE: Final = "namespace"
PART_KEYS: Final = "keys"
PART_STORAGE: Final = "storage"
PART_WORKLOAD: Final = "workload"
RETAINED_FROM_LABEL: Final = f"{GROUP}/retained-from"
# On a retained keyring: the uid of the Portal it came from (its bucket's marker names it).
RETAINED_UID_ANNOTATION: Final = f"{GROUP}/portal-uid"

# On the Portal: accept that the recorded bucket is lost and start over with an empty one; the
# value must be the marker id the status recorded (so it cannot accept a later loss).
ACCEPT_BUCKET_LOSS_ANNOTATION: Final = f"{GROUP}/accept-bucket-loss"
# On the Portal: the session secret is gone; make a new one (signs everyone out). The value
# must name the fingerprint the status recorded.
REGENERATE_SESSION_ANNOTATION: Final = f"{GROUP}/regenerate-session-secret"

# On the Portal: set (to any new value) to rotate the keys now.
ROTATE_ANNOTATION: Final = f"{GROUP}/rotate-keys"
# Any new value: the tenant's S3 identity gets a new access key, the old one is removed once
# the pods rolled to the new one.
ROTATE_S3_KEY_ANNOTATION: Final = f"{GROUP}/rotate-s3-key"

# On the portal's pod template: a digest of the copied credentials (a change rolls the pods).
CREDENTIALS_CHECKSUM_ANNOTATION: Final = f"{GROUP}/credentials-checksum"

# On the keyring Secret: rotation state (ids and times only, never key material).
ROTATED_AT_ANNOTATION: Final = f"{GROUP}/rotated-at"
RETIRING_ANNOTATION: Final = f"{GROUP}/retiring-keys"
ROTATE_HANDLED_ANNOTATION: Final = f"{GROUP}/rotate-request-handled"
# On a keyring put back from spec.encryption.restoreFrom: which Secret it came from.
RESTORED_FROM_ANNOTATION: Final = f"{GROUP}/restored-from"

# Object names inside a tenant namespace.
NAMESPACE_PREFIX: Final = "portal-"
RELEASE: Final = "portal"
SERVICE_ACCOUNT: Final = "portal"
KEYRING_SECRET: Final = "portal-keyring"
KEYRING_KEY: Final = "keyring.json"
SESSION_SECRET: Final = "portal-session"
SESSION_KEY: Final = "session-secret"
S3_SECRET: Final = "portal-s3"
DATABASE_SECRET: Final = "portal-database"
DATABASE_KEY: Final = "url"
DATA_CLAIM: Final = "portal-data"
QUOTA: Final = "portal-quota"
LIMIT_RANGE: Final = "portal-limits"
TENANT_BINDING: Final = "dokportal-operator"
DEFAULT_DENY: Final = "default-deny"

# Keys of the credential Secrets a Portal refers to.
S3_ACCESS_KEY: Final = "access-key"
S3_SECRET_KEY: Final = "secret-key"

# Components of the chart's Jobs (label app.kubernetes.io/component).
MIGRATE_COMPONENT: Final = "migrate"
REWRAP_COMPONENT: Final = "rewrap"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
HOOK_ANNOTATION: Final = "helm.sh/hook"

# Condition types on Portal.status.
READY: Final = "Ready"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"
KEYS_READY: Final = "KeysReady"
STORAGE_READY: Final = "StorageReady"
DATABASE_READY: Final = "DatabaseReady"
WORKLOAD_AVAILABLE: Final = "WorkloadAvailable"

# Who posts the Portal's Events.
EVENT_SOURCE: Final = "dokportal-operator"
# Cluster-scoped objects' Events live here (as kubectl and kopf expect).
EVENT_NAMESPACE: Final = "default"
