# syntax=docker/dockerfile:1
# One image for the web server, the Celery workers and the one-shot migrate step.
#
#   docker build -t fmnist .                                     # CPU torch (default)
#   docker build -t fmnist --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130 .
#
# TORCH_INDEX is the extra index that torch/torchvision are taken from. The CPU index keeps the
# image several GB smaller than a CUDA build. For the GPU worker pass the CUDA index listed for
# torch 2.14 at https://pytorch.org/get-started/locally/ (e.g. cu126, cu128, cu130: pick one
# the host's NVIDIA driver supports), or an empty TORCH_INDEX to take PyPI's default Linux
# wheel, which is a CUDA build. The CUDA libraries come inside the wheels, so the base image
# stays python:slim; the host needs only the driver and the NVIDIA Container Toolkit.

# Pinned to bookworm: the Debian release whose dataset-fashion-mnist package we install.
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VAR_DIR=/var/app \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/var/app/media \
    CHECKPOINT_ROOT=/var/app/checkpoints \
    FMNIST_DIR=/usr/share/datasets/fashion-mnist

# Fashion-MNIST from Debian (30 MB, arch-independent, signed by the archive) rather than a
# torchvision download when a container starts: the image then works offline, web and worker
# can't race to fill a shared volume, and the data is fixed with the image. The loader reads
# these re-gzipped idx files directly (torchvision's checksums would reject them).
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid so that files on bind mounts and volumes have a predictable owner.
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Requirements first so that code changes don't reinstall torch. When an extra index is given,
# pip prefers its local-version wheels (2.14.1+cpu sorts above 2.14.1), so the pins still hold.
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -r requirements.txt

COPY . .

# The throwaway key lives only in this RUN's environment, never in the image's.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

# Named volumes copy the ownership of the folder they are first mounted on: the generated
# secret key's, the worker's scratch and cache, and (without a bucket) media and checkpoints.
RUN mkdir -p "$MEDIA_ROOT" "$CHECKPOINT_ROOT" "$VAR_DIR/secret" "$VAR_DIR/checkpoint-cache" \
    && chmod 700 "$VAR_DIR/secret" && chown -R app:app "$VAR_DIR"

USER app

EXPOSE 8000
# A SECRET_KEY from the environment, else the one generated once and kept in /var/app/secret.
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["gunicorn", "fmnistsite.wsgi", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
