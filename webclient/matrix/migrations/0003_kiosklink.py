# The kiosk link model, moved here from the rooms app with its table (rooms_kiosklink).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import webclient.matrix.models


class Migration(migrations.Migration):
    dependencies = [
        ("matrix", "0002_automationdevice"),
        ("rooms", "0002_kiosklink_to_matrix"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="KioskLink",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100)),
                        ("room_ids", models.JSONField(default=list)),
                        ("theme", models.CharField(default="dark", max_length=10)),
                        ("font_scale", models.FloatField(default=1.5)),
                        (
                            "nonce",
                            models.CharField(default=webclient.matrix.models._nonce, max_length=40),
                        ),
                        ("created", models.DateTimeField(auto_now_add=True)),
                        ("last_seen", models.DateTimeField(blank=True, null=True)),
                        (
                            "credential",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="kiosk_link",
                                to="matrix.credential",
                            ),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="kiosk_links",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "rooms_kiosklink", "ordering": ["-created", "-pk"]},
                )
            ],
            database_operations=[],
        )
    ]
