"""Handler registrations, nothing else: what reacts to what."""

from __future__ import annotations

import kopf

from dokportal_operator import constants as c
from dokportal_operator import webhook
from dokportal_operator.handlers import admit, delete, drift, keep, startup
from dokportal_operator.settings import get_settings

# Registered first: a standby replica waits here for the Lease before anything else runs.
kopf.on.startup()(startup.lead)
kopf.on.startup()(startup.configure)
kopf.on.cleanup()(startup.cleanup)

# Every Portal's hostname, bucket and slug, for the collision checks (no extra API reads).
kopf.index(c.GROUP, c.VERSION, c.PLURAL)(keep.portal_claims)

# A Portal is kept by its own loop; any event of it wakes the loop.
kopf.daemon(c.GROUP, c.VERSION, c.PLURAL, cancellation_timeout=30.0)(keep.keep_portal)
kopf.on.event(c.GROUP, c.VERSION, c.PLURAL)(keep.wake_on_change)

# Deletion honours spec.storage.deletionPolicy (and holds the finalizer until done).
kopf.on.delete(c.GROUP, c.VERSION, c.PLURAL)(delete.finalize)

# Changes to the children (drift) wake their Portal's loop.
for _group, _version, _plural in drift.WATCHED:
    kopf.on.event(_group, _version, _plural, labels=drift.SELECTOR)(drift.wake_owner)

# Admission: the validating webhook (served when DOKPORTAL_OPERATOR_WEBHOOK_PORT is set) and
# the CA bundle of the chart's ValidatingWebhookConfiguration.
if get_settings().webhook_port:  # kopf refuses admission handlers without a server
    kopf.on.validate(
        c.GROUP, c.VERSION, c.PLURAL, id=webhook.ADMISSION_ID, operations=["CREATE", "UPDATE"]
    )(admit.admit)
kopf.on.event(
    "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", when=admit.is_ours
)(admit.keep_config)
