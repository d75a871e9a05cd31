"""Handler registrations, nothing else: what reacts to what."""

from __future__ import annotations

import kopf

from dokportal_operator import constants as c
from dokportal_operator.handlers import delete, drift, keep, startup

kopf.on.startup()(startup.configure)
kopf.on.cleanup()(startup.cleanup)

# A Portal is kept by its own loop; any event of it wakes the loop.
kopf.daemon(c.GROUP, c.VERSION, c.PLURAL, cancellation_timeout=30.0)(keep.keep_portal)
kopf.on.event(c.GROUP, c.VERSION, c.PLURAL)(keep.wake_on_change)

# Deletion honours spec.storage.deletionPolicy (and holds the finalizer until done).
kopf.on.delete(c.GROUP, c.VERSION, c.PLURAL)(delete.finalize)

# Changes to the children (drift) wake their Portal's loop.
for _group, _version, _plural in drift.WATCHED:
    kopf.on.event(_group, _version, _plural, labels=drift.SELECTOR)(drift.wake_owner)
