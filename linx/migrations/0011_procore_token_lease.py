from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("linx", "0010_open_failures"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="procore_token_lease_owner",
            field=models.CharField(blank=True, editable=False, max_length=100),
        ),
        migrations.AddField(
            model_name="connection",
            name="procore_token_lease_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
