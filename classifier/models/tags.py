"""Tags: words people put on photos (worn, mannequin, low light) and on runs (baseline,
lr-sweep), to filter and search by. One table for both; each page lists the tags of its own."""

from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
