# syntax=docker/dockerfile:1
# AI Studio: `docker build --build-arg AISTUDIO_GIT_COMMIT=$(git rev-parse HEAD) \
#   --build-arg AISTUDIO_BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t aistudio .`
# Then `docker run --env-file .env aistudio migrate` once and `docker run --env-file .env -p 8000:8000 aistudio`.

ARG PYTHON_VERSION=3.11

# ---- build: the package and its dependencies into a virtualenv -------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- runtime: the virtualenv only, a non-root user -------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG AISTUDIO_GIT_COMMIT=""
ARG AISTUDIO_BUILD_DATE=""
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AISTUDIO_GIT_COMMIT=${AISTUDIO_GIT_COMMIT} \
    AISTUDIO_BUILD_DATE=${AISTUDIO_BUILD_DATE} \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8000 \
    LOG_FORMAT=json
# Tesseract (Russian and English) reads the receipts of manual transfers (see docs/manual-transfers.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr=5.3.0-2 tesseract-ocr-rus=1:4.1.0-2 tesseract-ocr-eng=1:4.1.0-2 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 aistudio \
    && useradd --system --uid 10001 --gid aistudio --home-dir /app --shell /usr/sbin/nologin aistudio \
    && mkdir -p /app/var \
    && chown -R aistudio:aistudio /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# /healthz answers while the process is alive; readiness (database, schema, catalog) is /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8000'), timeout=4)"]
# Results waiting to be sent live in /app/var/results: mount a volume there to keep them across restarts.
VOLUME ["/app/var"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["aistudio"]
CMD ["run"]
