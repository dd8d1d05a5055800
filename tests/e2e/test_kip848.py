"""KIP-848 consumer groups (`group.protocol=consumer`): the broker assigns partitions
through ConsumerGroupHeartbeat. Two consumers share a topic, one leaves and the other
takes over from the committed offsets; a restarted consumer resumes with no loss and no
duplicate."""

from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import create_topic
from test_groups import PARTS, assignment_when_stable, group_consumer, poll_until, produce_n

FAST = {"floe_server__group_consumer_heartbeat_interval": 300}


def consumer(bootstrap, group):
    # no session.timeout.ms or heartbeat.interval.ms: the broker sets them in this protocol
    return Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
        "auto.offset.reset": "earliest", "enable.auto.commit": False, "fetch.wait.max.ms": 100,
    })


def test_two_consumers_share_then_one_takes_over(broker_factory):
    broker = broker_factory(**FAST)
    create_topic(broker.bootstrap, "k848", PARTS)
    a, b = consumer(broker.bootstrap, "g848"), consumer(broker.bootstrap, "g848")
    a.subscribe(["k848"])
    b.subscribe(["k848"])
    parts = assignment_when_stable([a, b], PARTS)
    assert sorted(len(p) for p in parts) == [2, 2], parts
    assert broker.metric("floe_requests_total", api="ConsumerGroupHeartbeat") > 0
    assert broker.metric("floe_requests_total", api="JoinGroup") == 0, "the new protocol, not the classic one"
    produce_n(broker.bootstrap, "k848", 0, 200)
    seen = poll_until({"a": a, "b": b}, {}, 200)
    assert len(seen) == 200 and all(len(v) == 1 for v in seen.values()), "each record exactly once"
    assert {n for v in seen.values() for n, _, _ in v} == {"a", "b"}, "both consumers got records"

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    desc = admin.describe_consumer_groups(["g848"])["g848"].result(10)
    assert len(desc.members) == 2 and desc.state == ConsumerGroupState.STABLE, desc

    b.close()  # leaves the group (member epoch -1)
    assert assignment_when_stable([a], PARTS) == [list(range(PARTS))]
    produce_n(broker.bootstrap, "k848", 200, 100)
    more = poll_until({"a": a}, {}, 100)
    assert sorted(more) == sorted(b"v%d" % i for i in range(200, 300)), "no loss, no duplicate"
    committed = a.committed([TopicPartition("k848", p) for p in range(PARTS)], timeout=10)
    assert sum(tp.offset for tp in committed) == 300
    a.close()

    # a new consumer of the group resumes from the commits
    produce_n(broker.bootstrap, "k848", 300, 40)
    c = consumer(broker.bootstrap, "g848")
    c.subscribe(["k848"])
    rest = poll_until({"c": c}, {}, 40)
    c.close()
    assert sorted(rest) == sorted(b"v%d" % i for i in range(300, 340))


def test_a_classic_group_and_a_kip848_group_do_not_mix(broker_factory):
    broker = broker_factory(**FAST)
    create_topic(broker.bootstrap, "mix", 1)
    modern = consumer(broker.bootstrap, "g-mix")
    modern.subscribe(["mix"])
    assignment_when_stable([modern], 1)
    classic = group_consumer(broker.bootstrap, "g-mix")
    classic.subscribe(["mix"])
    for _ in range(20):
        msg = classic.poll(0.2)
        if msg is not None and msg.error() is not None:
            assert "INCONSISTENT_GROUP_PROTOCOL" in msg.error().name(), msg.error()
            break
    assert not classic.assignment(), "the classic member got nothing"
    classic.close()
    modern.close()
