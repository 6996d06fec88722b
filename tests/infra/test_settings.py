from pathlib import Path

import pytest
from pydantic import ValidationError

from sdr_pipeline.settings import Settings


def test_defaults_are_local_and_finite():
    settings = Settings(_env_file=None)
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.tracking_uri == "http://127.0.0.1:5000"
    assert settings.llm_endpoint == "http://127.0.0.1:8080/v1"
    assert 0 < settings.llm_timeout_s < 600
    assert 0 < settings.dispatch_timeout_s < 600
    assert settings.cache_dir.is_absolute()
    assert not str(settings.cache_dir).startswith(str(Path.cwd()))


def test_every_field_is_overridable_by_an_sdr_variable(monkeypatch):
    monkeypatch.setenv("SDR_KAFKA_PORT", "19092")
    monkeypatch.setenv("SDR_KAFKA_BOOTSTRAP", "broker-a:9092,broker-b:9092")
    monkeypatch.setenv("SDR_ROUTER_POLICY", "llm")
    monkeypatch.setenv("SDR_STATE_DIR", "/tmp/somewhere")
    settings = Settings(_env_file=None)
    assert settings.kafka_port == 19092
    assert settings.bootstrap_servers == "broker-a:9092,broker-b:9092"
    assert settings.router_policy == "llm"
    assert settings.logs_dir == Path("/tmp/somewhere/logs")


def test_dotenv_file_is_read(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SDR_MLFLOW_PORT=5055\n")
    assert Settings(_env_file=env_file).tracking_uri == "http://127.0.0.1:5055"


def test_bad_values_are_rejected(monkeypatch):
    monkeypatch.setenv("SDR_KAFKA_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="kafka_port"):
        Settings(_env_file=None)
    monkeypatch.setenv("SDR_KAFKA_PORT", "9092")
    monkeypatch.setenv("SDR_ROUTER_POLICY", "random")
    with pytest.raises(ValidationError, match="router_policy"):
        Settings(_env_file=None)


def test_api_key_is_hidden_in_repr(monkeypatch):
    monkeypatch.setenv("SDR_LLM_API_KEY", "sk-secret-value")
    settings = Settings(_env_file=None)
    assert "sk-secret-value" not in repr(settings)
    assert settings.llm_api_key.get_secret_value() == "sk-secret-value"


def test_example_pool_is_a_comma_separated_list_and_round_trips_through_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SDR_ROUTER_EXAMPLE_POOL", f"{tmp_path}/a.jsonl, {tmp_path}/b.jsonl")
    settings = Settings(_env_file=None)
    assert settings.router_example_pool == (tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None).router_example_pool == settings.router_example_pool
