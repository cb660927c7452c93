from django.urls import path

from classifier.views import photos, runs

urlpatterns = [
    path("", runs.run_list, name="run_list"),
    path("runs/new/", runs.run_new, name="run_new"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/live/", runs.run_live, name="run_live"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("checkpoints/<int:checkpoint_id>/download/", runs.checkpoint_download, name="checkpoint_download"),
    path("photos/", photos.photo_gallery, name="photo_gallery"),
    path("photos/live/", photos.photo_gallery_live, name="photo_gallery_live"),
    path("photos/upload/", photos.photo_upload, name="photo_upload"),
    path("photos/upload/file/", photos.photo_upload_file, name="photo_upload_file"),
    path("photos/predict-all/", photos.photos_predict_all, name="photos_predict_all"),
    path("photos/<int:photo_id>/", photos.photo_detail, name="photo_detail"),
    path("photos/<int:photo_id>/label/", photos.photo_label, name="photo_label"),
    path("photos/<int:photo_id>/original/", photos.photo_original, name="photo_original"),
    path("photos/<int:photo_id>/thumbnail/", photos.photo_thumbnail, name="photo_thumbnail"),
    path("photos/<int:photo_id>/model-input.png", photos.photo_model_input, name="photo_model_input"),
    path("corrections/<int:correction_id>/revert/", photos.correction_revert, name="correction_revert"),
]
