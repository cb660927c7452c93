from django.urls import path

from classifier.views import reports, runs, samples

urlpatterns = [
    path("", runs.run_list, name="run_list"),
    path("runs/new/", runs.run_new, name="run_new"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/live/", runs.run_live, name="run_live"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("checkpoints/<int:checkpoint_id>/download/", runs.checkpoint_download, name="checkpoint_download"),
    path("checkpoints/<int:checkpoint_id>/evaluate/", reports.checkpoint_evaluate, name="checkpoint_evaluate"),
    path("reports/compare/", reports.report_compare, name="report_compare"),
    path("reports/<int:report_id>/", reports.report_detail, name="report_detail"),
    path("reports/<int:report_id>/live/", reports.report_live, name="report_live"),
    path("reports/<int:report_id>/cells/<int:true_class>/<int:predicted_class>/", reports.report_cell,
         name="report_cell"),
    path("datasets/fmnist-test/<int:index>.png", samples.fmnist_test_image, name="fmnist_test_image"),
]
