from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T05:12:42:371167"
VERSION = "1.38.0"
DESCRIPTION = "sign-in limits moved to sessions.attempt_counter: drop failed_attempts, locked_until"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="staff", description=DESCRIPTION
    )

    manager.drop_column(
        table_class_name="StaffAccount",
        tablename="staff_account",
        column_name="failed_attempts",
        db_column_name="failed_attempts",
        schema=None,
    )

    manager.drop_column(
        table_class_name="StaffAccount",
        tablename="staff_account",
        column_name="locked_until",
        db_column_name="locked_until",
        schema=None,
    )

    return manager
