from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0010_recent_first'),
    ]

    operations = [
        migrations.AddField(
            model_name='reposync',
            name='recent_expected',
            field=models.IntegerField(blank=True, null=True),
        ),
    ]
