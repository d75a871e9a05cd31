"""Dokportal: the tenant web app."""

import os

# Piccolo locates its engine through this module; set it once so neither the CLI nor the
# tests depend on the caller exporting it.
os.environ.setdefault("PICCOLO_CONF", "dokportal.piccolo_conf")
