# The kiosk link model moved to the matrix app (live/ reads it and may not import rooms/);
# its table stays where it is.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("rooms", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="KioskLink")],
            database_operations=[],
        )
    ]
