import pytest

from sdr_pipeline.orchestrator.smoke_job import round_trip, stamp


def test_stamp_marks_the_record():
    assert stamp('{"b": 1, "a": 2}') == '{"a": 2, "b": 1, "via": "flink"}'


@pytest.mark.kafka
@pytest.mark.flink
def test_kafka_to_flink_to_kafka_round_trip(kafka):
    result = round_trip(kafka, records=7)
    assert len(result.sent) == 7
    assert result.missing == []
    assert sorted(result.received) == sorted(stamp(value) for value in result.sent)
    assert result.ok
