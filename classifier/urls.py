from django.urls import path

from classifier.views import runs

urlpatterns = [
    path("", runs.run_list, name="run_list"),
    path("runs/new/", runs.run_new, name="run_new"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/live/", runs.run_live, name="run_live"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("checkpoints/<int:checkpoint_id>/download/", runs.checkpoint_download, name="checkpoint_download"),
]
