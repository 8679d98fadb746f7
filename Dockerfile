# Airbyte destination-starrocks, built the way Airbyte builds its Python connectors: on the base image that
# metadata.yaml declares (connectorBuildOptions.baseImage; Airbyte's own builds pass it as BASE_IMAGE), the
# package pip-installed into the image's Python, run by the base image's non-root user `airbyte` (uid 1000).
#
# integration_tests/test_docker_steps.py replays these steps without a Docker engine (as that user), so keep
# to the instructions it understands: ARG (before FROM), FROM, WORKDIR, ENV, COPY, RUN pip ..., USER, LABEL,
# ENTRYPOINT. It also checks that BASE_IMAGE below is metadata.yaml's baseImage, digest included.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /airbyte/integration_code

COPY pyproject.toml README.md main.py ./
COPY destination_starrocks ./destination_starrocks
# As root, into the base image's /usr/local Python: files owned by root, readable by everyone.
RUN pip install --no-cache-dir .

# The base image creates `airbyte` (uid 1000, group airbyte); Airbyte's connector images run as it.
USER airbyte

# Exec form, no shell in between: the connector itself is PID 1 and gets `docker stop`'s SIGTERM (it installs
# its own handler, see destination_starrocks/stop_signals.py). The platform runs AIRBYTE_ENTRYPOINT.
ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]

LABEL io.airbyte.version=0.2.4
LABEL io.airbyte.name=airbyte/destination-starrocks
