# Flink 2.2 with PyFlink, the project package and the Kafka connector jar on the classpath.
# The jar is copied by coordinate with Maven, as `sdr-pipeline infra fetch` does.
FROM maven:3.9-eclipse-temurin-17 AS jars
ARG CONNECTOR_VERSION=5.0.0-2.2
RUN mvn -B -q dependency:copy -Dartifact=org.apache.flink:flink-sql-connector-kafka:${CONNECTOR_VERSION} \
    -DoutputDirectory=/build/jars

FROM flink:2.2-java17
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir uv && uv pip install --python /opt/venv/bin/python --no-cache -r /tmp/requirements.lock
COPY pyproject.toml README.md /opt/sdr/
COPY src /opt/sdr/src
COPY prompts /opt/sdr/prompts
RUN uv pip install --python /opt/venv/bin/python --no-deps /opt/sdr
COPY --from=jars /build/jars/ /opt/flink/lib/
