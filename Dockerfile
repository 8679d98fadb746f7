# Airbyte destination-starrocks, built the way Airbyte builds its Python connectors.
# integration_tests/test_docker_steps.py replays these steps (COPY, RUN pip install, ENTRYPOINT) in a fresh
# virtual environment, so keep to the instructions it understands: FROM, WORKDIR, ENV, COPY, RUN pip ..., LABEL,
# ENTRYPOINT. The Python version here matches metadata.yaml's connectorBuildOptions.baseImage (3.11).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /airbyte/integration_code

COPY pyproject.toml README.md main.py ./
COPY destination_starrocks ./destination_starrocks
RUN pip install --no-cache-dir .

ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]

LABEL io.airbyte.version=0.1.0
LABEL io.airbyte.name=airbyte/destination-starrocks
