# The papra-pipeline image: one image for the code location, the webserver, the daemon and the
# webhook receiver (deploy/compose.yaml). Every step is in deploy/image-steps, which
# tests/deploy also runs; no Docker daemon runs where this project is tested, so this file
# itself has not been built there.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_COMPUTE_LOGS_DIR=/data/compute_logs \
    PAPRA_DUCKDB_PATH=/data/papra.duckdb

COPY . /src
RUN /src/deploy/image-steps all

USER papra
WORKDIR /opt/dagster/home
VOLUME ["/data"]
