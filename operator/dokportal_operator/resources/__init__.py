"""One module per thing a Portal needs, each an idempotent step: namespace, keys, storage,
database, workload. Steps return their condition, or raise `Waiting` / `NeedsHuman`."""
