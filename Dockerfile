# One image for both processes of Crypto Converter:
#   docker run IMAGE                                  -> python run.py api (the default)
#   docker run IMAGE python run.py quote-consumer
# docker-compose.yml runs both from this image, sharing a named volume at /data.

# ---- builder: a virtualenv holding the pinned runtime dependencies ------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
# Only requirements.txt is copied before installing, so this (slow) layer is
# rebuilt when the pins change, not on every code edit.
COPY requirements.txt /tmp/requirements.txt
# Every pin has a CPython 3.11 manylinux wheel for amd64 and arm64, so no
# compiler is needed; --only-binary makes a missing wheel fail here, loudly,
# instead of quietly needing build tools.
RUN /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt

# ---- final: the same slim base, the venv, our code, an unprivileged user -------
FROM python:3.11-slim

# DATA_DIR and API_HOST differ from the settings' local defaults because in a
# container the data lives on the volume and the API must be reachable from
# outside it; docker-compose.yml sets them too.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    API_HOST=0.0.0.0

# /data belongs to the app user: Docker copies a mount point's owner into a
# fresh named volume, so the consumer can write the volume without root.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app \
 && mkdir /data \
 && chown app:app /data

COPY --from=builder /opt/venv /opt/venv

# The code stays owned by root: the process can read it but not change it.
WORKDIR /app
COPY run.py settings.py logsetup.py supervisor.py ./
COPY api/ api/
COPY consumer/ consumer/
COPY storage/ storage/

USER app:app
EXPOSE 8000
# Exec form: python gets SIGTERM from `docker stop` and shuts down cleanly.
CMD ["python", "run.py", "api"]
