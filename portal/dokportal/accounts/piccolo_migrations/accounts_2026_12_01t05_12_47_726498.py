from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T05:12:47:726498"
VERSION = "1.38.0"
DESCRIPTION = "sign-in limits moved to sessions.attempt_counter: drop throttle, failed_logins, locked_until"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="accounts", description=DESCRIPTION
    )

    manager.drop_table(class_name="Throttle", tablename="throttle", schema=None)

    manager.drop_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="locked_until",
        db_column_name="locked_until",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="failed_logins",
        db_column_name="failed_logins",
        schema=None,
    )

    return manager
