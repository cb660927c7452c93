"""The API's endpoints: each reads its input, calls the service or selector the pages use, and
shapes the answer. Views stay thin; the rules live in the services."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from ninja import File, Form, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.files import UploadedFile

from classifier.api import schemas as out
from classifier.api.auth import BearerToken, RateLimited
from classifier.forms import TrainingRunForm
from classifier.selectors import photos as photo_selectors
from classifier.selectors import promotions as promotion_selectors
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors
from classifier.selectors import scorecards as scorecard_selectors
from classifier.services import photos as photo_services
from classifier.services import predictions as prediction_services
from classifier.services import promotions as promotion_services
from classifier.services import training as training_services
from classifier.services.worker_calls import WorkerUnavailable
from dataset.classes import CLASS_NAMES
from dataset.photos import PREPROCESS_VERSION

api = NinjaAPI(
    title="fmnist API", version="1", urls_namespace="api",
    description="Send a personal token (the *API tokens* page, or `manage.py api_token USERNAME`) as "
                "`Authorization: Bearer <token>`. Errors answer `{\"error\": \"...\"}`.",
    auth=BearerToken(),
)
ERRORS = {400: out.ErrorOut, 401: out.ErrorOut, 403: out.ErrorOut, 404: out.ErrorOut, 429: out.ErrorOut}
_UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and headers


def _error(request, status: int, message: str, **extra):
    return api.create_response(request, {"error": message, **extra}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    response = _error(request, 401, "Send a valid API token as 'Authorization: Bearer <token>' (create one on the "
                                    "API tokens page); this one is missing, unknown or revoked.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(RateLimited)
def _rate_limited(request, exc):
    response = _error(request, 429, str(exc))
    response["Retry-After"] = str(max(1, round(exc.retry_after)))
    return response


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc):
    first = exc.errors[0] if exc.errors else {}
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    return _error(request, 400, f"{where}: {first.get('msg', 'invalid')}", detail=exc.errors)


@api.exception_handler(ValidationError)
def _refused(request, exc):
    return _error(request, 400, " ".join(exc.messages))


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _error(request, 403, str(exc) or "Only staff can do this.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "Not found.")


@api.exception_handler(WorkerUnavailable)
def _unavailable(request, exc):
    return _error(request, 503, str(exc))


def _staff_only(request, what: str) -> None:
    if not request.user.is_staff:
        raise PermissionDenied(f"Only staff can {what}; this token's user is not staff.")


def _image_refused(image: UploadedFile, exc: photo_services.PhotoRejected) -> ValidationError:
    return ValidationError(f"{photo_services.display_name(image.name) or 'The image'} {exc}")


def _check_request_size(request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.PHOTO_MAX_BYTES + _UPLOAD_OVERHEAD:
        raise ValidationError(f"The image is too large: the limit is {settings.PHOTO_MAX_BYTES / 2**20:.0f} MB.")


# --- predict ------------------------------------------------------------------------------


@api.post("/predict", response={200: out.PredictionOut, 503: out.ErrorOut, **ERRORS}, tags=["predict"])
def predict(request, image: File[UploadedFile], store: Form[bool] = False):
    """The active model's answer for one photo (multipart field `image`), preprocessed exactly as
    an upload. Nothing is stored unless `store=true`, which adds the photo to the gallery as an
    upload would (and queues its prediction there, with the same model)."""
    _check_request_size(request)
    photo = None
    try:
        if store:
            photo = photo_services.photo_upload(file=image, user=request.user)
            model_input = photo.model_input_array()
        else:
            model_input = photo_services.photo_model_input(file=image)
    except photo_services.PhotoRejected as exc:
        raise _image_refused(image, exc) from None
    if photo is not None:
        # Queued first: a stored photo gets the gallery's prediction even if this answer fails.
        photo_services.photos_predict_new(user=request.user)
    answer = prediction_services.image_predict(model_input=model_input)
    return out.PredictionOut(
        label=answer.label, label_index=answer.label_index, probabilities=answer.probabilities,
        class_names=list(CLASS_NAMES), checkpoint=answer.checkpoint.pk, checkpoint_sha256=answer.checkpoint.sha256,
        preprocess_version=PREPROCESS_VERSION, photo=photo.pk if photo else None,
    )


# --- photos -------------------------------------------------------------------------------


class GalleryQuery(Schema):
    show: str = "all"  # all | unlabelled | labelled | wrong
    label: int | None = None  # the human label
    predicted: int | None = None
    order: str = "confidence"  # confidence | useful | -confidence | -created | created
    split: str = ""  # "" | train | held-out
    page: int = 1
    page_size: int = 100


@api.get("/photos", response={200: out.PhotoPageOut, **ERRORS}, tags=["photos"])
def photo_list(request, query: Query[GalleryQuery]):
    """The gallery's photos with its filters and orders (unknown values fall back to the defaults)."""
    params = QueryDict(mutable=True)
    params.update({k: str(v) for k, v in query.dict().items() if v is not None})
    filters = photo_selectors.GalleryFilters.from_query(params)
    paginator = Paginator(photo_selectors.photos_for_gallery(filters=filters), max(1, min(query.page_size, 500)))
    page = paginator.get_page(query.page)
    return out.PhotoPageOut(count=paginator.count, page=page.number, pages=paginator.num_pages,
                            results=[out.PhotoOut.of(p) for p in page.object_list])


@api.post("/photos", response={201: out.PhotoOut, 503: out.ErrorOut, **ERRORS}, tags=["photos"])
def photo_upload(request, image: File[UploadedFile]):
    """Add a photo to the gallery, as the upload page does: stored at once (`state` "preparing"),
    then a worker prepares what the model sees (`state` "ready", or "failed" with the reason) and
    predicts it."""
    _check_request_size(request)
    try:
        photo = photo_services.photo_store(file=image, user=request.user)
    except photo_services.PhotoRejected as exc:
        raise _image_refused(image, exc) from None
    photo_services.photos_prepare_waiting(user=request.user)
    return Status(201, out.PhotoOut.of(photo))


@api.get("/photos/{photo_id}", response={200: out.PhotoOut, **ERRORS}, tags=["photos"])
def photo_detail(request, photo_id: int):
    return out.PhotoOut.of(photo_selectors.photo_get(photo_id=photo_id), probabilities=True)


@api.post("/photos/{photo_id}/label", response={200: out.PhotoOut, **ERRORS}, tags=["photos"])
def photo_label(request, photo_id: int, body: out.LabelIn):
    """Give the photo a label (a class index) or clear it (null); kept in its history."""
    photo = photo_selectors.photo_get(photo_id=photo_id)
    try:
        photo_services.photo_label_set(photo=photo, label=body.label, user=request.user, source="api")
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return out.PhotoOut.of(photo_selectors.photo_get(photo_id=photo_id), probabilities=True)


@api.get("/photos/{photo_id}/history", response={200: list[out.CorrectionOut], **ERRORS}, tags=["photos"])
def photo_history(request, photo_id: int):
    """Every change of the photo's label, newest first."""
    photo = photo_selectors.photo_get(photo_id=photo_id)
    return [out.CorrectionOut.of(c) for c in photo_selectors.photo_history(photo=photo)]


# --- runs ---------------------------------------------------------------------------------


@api.get("/runs", response={200: list[out.RunOut], **ERRORS}, tags=["runs"])
def run_list(request, limit: int = 100):
    return [out.RunOut.of(run) for run in run_selectors.runs_for_list()[:max(1, min(limit, 1000))]]


def _run_detail(run) -> out.RunDetailOut:
    active = promotion_selectors.active_checkpoint()
    return out.RunDetailOut(
        **out.RunOut.fields_of(run), config=run.config, device=run.device, precision=run.precision, plan=run.plan,
        parent_checkpoint=run.parent_checkpoint_id,
        epochs=[out.EpochOut(epoch=e.epoch, train_loss=e.train_loss, train_acc=e.train_acc, val_loss=e.val_loss,
                             val_acc=e.val_acc, seconds=e.seconds, lr=e.lr) for e in run_selectors.run_epochs(run=run)],
        checkpoints=[out.CheckpointOut.of(c, active_id=active and active.pk) for c in run_selectors.run_checkpoints(run=run)],
        reports=[r.pk for r in report_selectors.reports_for_run(run=run)],
    )


@api.get("/runs/{run_id}", response={200: out.RunDetailOut, **ERRORS}, tags=["runs"])
def run_detail(request, run_id: int):
    return _run_detail(run_selectors.run_get(run_id=run_id))


@api.post("/runs", response={201: out.RunDetailOut, **ERRORS}, tags=["runs"])
def run_start(request, body: out.RunIn):
    """Queue a training run (staff), with the New run page's fields and checks."""
    _staff_only(request, "start runs")
    form = TrainingRunForm({k: "" if v is None else v for k, v in body.dict().items()})
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        first_field, first = next(iter(errors.items()))
        prefix = "" if first_field == "__all__" else f"{first_field}: "
        return _error(request, 400, prefix + first[0], fields=errors)
    run = training_services.training_run_create(created_by=request.user, config=form.cleaned_data["config"],
                                                note=form.cleaned_data["note"])
    return Status(201, _run_detail(run_selectors.run_get(run_id=run.pk)))


# --- reports, checkpoints, the active model ----------------------------------------------


@api.get("/reports/{report_id}", response={200: out.ReportOut, **ERRORS}, tags=["reports"])
def report_detail(request, report_id: int):
    """A report's figures: accuracy, per-class precision, recall and F1, the confusion matrix."""
    report = report_selectors.report_get(report_id=report_id)
    classes = report_selectors.report_classes(report=report) if report.succeeded else []
    return out.ReportOut(
        id=report.pk, status=report.status, run=report.run_id, checkpoint=report.checkpoint_id,
        checkpoint_epoch=report.checkpoint_epoch, checkpoint_sha256=report.checkpoint_sha256,
        dataset=report.dataset_name, n=report.n_samples, accuracy=report.accuracy, loss=report.loss, ece=report.ece,
        class_names=report.class_names,
        per_class=[out.ClassFigures(index=c.index, name=c.name, precision=c.precision, recall=c.recall, f1=c.f1,
                                    support=c.support) for c in classes],
        confusion_matrix=report.confusion_matrix or [], error=report.error, url=report.get_absolute_url(),
    )


@api.get("/checkpoints", response={200: list[out.CheckpointOut], **ERRORS}, tags=["checkpoints"])
def checkpoint_list(request, limit: int = 100):
    active = promotion_selectors.active_checkpoint()
    return [out.CheckpointOut.of(c, active_id=active and active.pk)
            for c in run_selectors.checkpoints_for_list()[:max(1, min(limit, 1000))]]


@api.post("/checkpoints/{checkpoint_id}/promote", response={201: out.PromotionOut, **ERRORS}, tags=["checkpoints"])
def checkpoint_promote(request, checkpoint_id: int, body: out.PromoteIn):
    """Make the checkpoint the active model (staff), with a reason; warnings must be acknowledged."""
    _staff_only(request, "change the active model")
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    promotion = promotion_services.checkpoint_promote(checkpoint=checkpoint, user=request.user, reason=body.reason,
                                                      acknowledge_warnings=body.acknowledge_warnings)
    return Status(201, out.PromotionOut.of(promotion))


@api.get("/model", response={200: out.ModelOut, **ERRORS}, tags=["checkpoints"])
def active_model(request):
    """The model that predicts the gallery's photos and the API's predict, with its scorecard."""
    checkpoint = photo_selectors.checkpoint_for_prediction()
    promotion = promotion_selectors.promotion_latest()
    card = scorecard_selectors.checkpoint_scorecard(checkpoint=checkpoint)
    return out.ModelOut(
        checkpoint=out.CheckpointOut.of(checkpoint, active_id=checkpoint.pk) if checkpoint else None,
        promoted=promotion is not None, promotion=out.PromotionOut.of(promotion) if promotion else None,
        scorecard=[out.DomainOut(dataset=d.dataset_name, label=d.label, report=d.report.pk if d.report else None,
                                 accuracy=d.accuracy, n=d.n) for d in card.domains] if checkpoint else [],
        preprocess_version=PREPROCESS_VERSION,
    )
