# The application image: daphne (ASGI, started by project/daphne.py) by default;
# gunicorn (WSGI) is in it too.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# uv from PyPI, the version the Makefile pins, installs uv.lock's runtime
# dependencies (hash-checked) into /venv with the image's own Python.
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    UV_PROJECT_ENVIRONMENT=/venv UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install "uv==${UV_VERSION}"
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --python python3
COPY . .
# collectstatic reads the production settings, which insist on these variables;
# it connects to neither server, so placeholders are enough at build time.
RUN DJANGO_SETTINGS_MODULE=project.settings.production \
    DJANGO_SECRET_KEY=build-only-placeholder DJANGO_ALLOWED_HOSTS=build \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 REDIS_URL=redis://build:6379/0 \
    /venv/bin/python manage.py collectstatic --noinput

FROM ${PYTHON_IMAGE} AS runtime
# /srv/static belongs to the app user, so the compose stack's `static` volume,
# mounted there, is created writable for the service that fills it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /srv/static && chown app:app /srv/static
COPY --from=build /venv /venv
COPY --from=build --chown=app:app /app /app
WORKDIR /app
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=project.settings.production
# region: image-runs-as
USER 10001:10001
EXPOSE 8000
# /healthz answers only for an allowed host: ask with the first one.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; host = os.environ['DJANGO_ALLOWED_HOSTS'].split(',')[0].strip().lstrip('.'); r = u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': host}), timeout=4); sys.exit(r.status != 200)"]
# daphne with the project's options (project/daphne.py): where to listen and the app.
CMD ["python", "-m", "project.daphne", "-b", "0.0.0.0", "-p", "8000", "project.asgi:application"]
# endregion
