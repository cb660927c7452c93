"""Where a PreparationJob meets the photos: each stored upload made into what the model sees
(classifier.services.photos.photo_prepare: Pillow and OpenCV, no torch), then predicted."""

from __future__ import annotations

from classifier.models import PreparationJob
from classifier.services import jobs as job_services
from classifier.services import photos as photo_services


def prepare_and_record(job: PreparationJob) -> dict:
    photo_ids = photo_services.preparation_job_photos(job=job)
    beat = job_services.Heartbeat(job)  # also where a cancel request stops the job, between photos
    for done, photo_id in enumerate(photo_ids, start=1):
        photo_services.photo_prepare(photo_id=photo_id)
        beat(done / len(photo_ids))
    # Queued before this job is marked done, so a page never sees neither job active between the
    # two while its photos wait to be predicted (it would stop asking for changes).
    photo_services.photos_predict_new(user=job.requested_by)
    return {"done": len(photo_ids)}
