# The sdr-pipeline package: agents, intake, SMTP sink, MLflow and the CLI share this image.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements/requirements.lock requirements/requirements.lock
RUN pip install --no-cache-dir uv && uv pip install --system --no-cache -r requirements/requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
COPY prompts ./prompts
RUN uv pip install --system --no-deps .
ENV SDR_STATE_DIR=/var/lib/sdr-pipeline
ENTRYPOINT ["sdr-pipeline"]
