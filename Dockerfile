# The production image: one image runs web (gunicorn), worker and beat (Celery)
# and the one-shot migration; docker-compose.yml chooses the command.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:$PATH" \
    DJANGO_SETTINGS_MODULE=prm.settings.production

# WeasyPrint (PDF statements) needs Pango and HarfBuzz; Noto CJK renders Chinese.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

# The same uv release the Makefile pins.
RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /app

# Dependencies first, from the committed lock file only, so code changes keep this layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
RUN uv sync --frozen --no-dev

# Static files are collected at build time with the production settings. The
# settings refuse to load without a real-looking SECRET_KEY and DATABASE_URL;
# these build-only values are never used at run time (collectstatic opens no
# database connection).
RUN SECRET_KEY="build-only-collectstatic-key-not-used-at-run-time-0123456789abcdef" \
    DATABASE_URL="postgres://build:build@127.0.0.1:1/build" \
    python manage.py collectstatic --no-input -v 0

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin prm \
    && mkdir -p /app/media \
    && chown prm /app/media
USER prm

EXPOSE 8000
CMD ["gunicorn", "prm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-"]
