from django.db import migrations, models

from dataset.photo_split import is_held_out


def split_existing_photos(apps, schema_editor):
    Photo = apps.get_model("classifier", "Photo")
    for photo in Photo.objects.only("pk", "sha256").iterator():
        if is_held_out(photo.sha256):
            Photo.objects.filter(pk=photo.pk).update(held_out=True)


class Migration(migrations.Migration):

    dependencies = [
        ("classifier", "0004_merge_photos_and_reports"),
    ]

    operations = [
        migrations.AddField(
            model_name="photo",
            name="held_out",
            field=models.BooleanField(db_index=True, default=False),
        ),
        migrations.RunPython(split_existing_photos, migrations.RunPython.noop),
    ]
