from sdr_pipeline.contracts import topics
from sdr_pipeline.contracts.topics import TOPICS


def test_required_topics_are_declared_once():
    names = [spec.name for spec in TOPICS]
    assert len(names) == len(set(names))
    assert {"incoming_leads", "agent_messages", "routing_decisions", "dead_letters", "router_control",
            "workflow_events"} <= set(names)


def test_constants_match_the_declared_list():
    declared = {spec.name for spec in TOPICS}
    constants = {value for name, value in vars(topics).items() if name.isupper() and isinstance(value, str)}
    assert constants == declared


def test_control_topic_is_compacted_and_others_expire():
    by_name = {spec.name: spec for spec in TOPICS}
    assert by_name["router_control"].config["cleanup.policy"] == "compact"
    assert by_name["router_control"].partitions == 1
    for spec in TOPICS:
        assert spec.partitions >= 1
        assert spec.purpose
        if spec.config.get("cleanup.policy") == "delete":
            assert int(spec.config["retention.ms"]) > 0
