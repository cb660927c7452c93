from django.urls import path

from classifier.views import compare, models, reports, runs, samples

urlpatterns = [
    path("", runs.run_list, name="run_list"),
    path("runs/new/", runs.run_new, name="run_new"),
    path("runs/compare/", compare.runs_compare_view, name="runs_compare"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/live/", runs.run_live, name="run_live"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("checkpoints/<int:checkpoint_id>/", models.checkpoint_detail, name="checkpoint_detail"),
    path("checkpoints/<int:checkpoint_id>/promote/", models.checkpoint_promote, name="checkpoint_promote"),
    path("models/", models.model_history, name="model_history"),
    path("promotions/<int:promotion_id>/rollback/", models.promotion_rollback, name="promotion_rollback"),
    path("checkpoints/<int:checkpoint_id>/download/", runs.checkpoint_download, name="checkpoint_download"),
    path("checkpoints/<int:checkpoint_id>/evaluate/", reports.checkpoint_evaluate, name="checkpoint_evaluate"),
    path("reports/compare/", reports.report_compare, name="report_compare"),
    path("reports/<int:report_id>/", reports.report_detail, name="report_detail"),
    path("reports/<int:report_id>/live/", reports.report_live, name="report_live"),
    path("reports/<int:report_id>/cells/<int:true_class>/<int:predicted_class>/", reports.report_cell,
         name="report_cell"),
    path("datasets/fmnist-test/<int:index>.png", samples.fmnist_test_image, name="fmnist_test_image"),
]
