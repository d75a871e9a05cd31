"""Piccolo app registration for the notices domain (tables and migrations)."""

from __future__ import annotations

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="notices",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["dokportal.notices.tables"], exclude_imported=True),
    migration_dependencies=[
        "dokportal.staff.piccolo_app",
        "dokportal.accounts.piccolo_app",
        "dokportal.files.piccolo_app",
    ],
    commands=[],
)
