from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('polyflow', '0005_matrix'),
    ]

    operations = [
        migrations.CreateModel(
            name='SchedulerHeartbeat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('worker', models.CharField(max_length=128, unique=True)),
                ('host', models.CharField(max_length=255)),
                ('pid', models.PositiveIntegerField()),
                ('started_at', models.DateTimeField()),
                ('ticked_at', models.DateTimeField(db_index=True)),
                ('tick_seconds', models.FloatField(default=0.0)),
            ],
            options={
                'ordering': ['-ticked_at'],
            },
        ),
    ]
