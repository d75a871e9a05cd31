from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T05:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stored files: active content found in PDFs, and their rendered safe copy"


def _params(**extra: object) -> dict[str, object]:
    params: dict[str, object] = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(extra)
    return params


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="files", description=DESCRIPTION)

    manager.add_column(
        table_class_name="StoredFile",
        tablename="stored_file",
        column_name="active_content",
        db_column_name="active_content",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=200, default=""),
        schema=None,
    )
    manager.add_column(
        table_class_name="StoredFile",
        tablename="stored_file",
        column_name="safe_copy_state",
        db_column_name="safe_copy_state",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=16, default="", index=True),
        schema=None,
    )
    manager.add_column(
        table_class_name="StoredFile",
        tablename="stored_file",
        column_name="safe_copy",
        db_column_name="safe_copy",
        column_class_name="Integer",
        column_class=Integer,
        params=_params(default=None, null=True),
        schema=None,
    )

    return manager
