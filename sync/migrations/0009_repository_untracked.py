from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0008_sweep"),
    ]

    operations = [
        migrations.AddField(
            model_name="trackedrepository",
            name="untracked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
