"""Bad bytes on a raw socket: an error answer or a closed connection, never a crash, and
the broker keeps serving everyone else."""

import socket
import struct

import pytest

from clients import confluent_consume, confluent_produce, create_topic


def send_raw(broker, payload, read=True):
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
        s.sendall(payload)
        if not read:
            return b""
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break  # closed by the broker
                chunks.append(chunk)
        except socket.timeout:
            pytest.fail("broker neither answered nor closed the connection")
        return b"".join(chunks)


def frame(api_key, version, correlation_id, body=b"", client_id=b"raw"):
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def still_serving(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    confluent_produce(broker.bootstrap, topic, [(b"k", b"v", [])])
    assert confluent_consume(broker.bootstrap, topic, 1, 1)[0][0][2] == b"v"


def test_garbage_frame_closes_the_connection(broker):
    assert send_raw(broker, struct.pack(">i", 12) + b"\xde\xad\xbe\xef" * 3) == b""
    assert broker.alive()
    still_serving(broker, "after-garbage")


def test_oversized_frame_is_refused_unread(broker):
    assert send_raw(broker, struct.pack(">i", 1 << 30) + b"x" * 100) == b""
    assert send_raw(broker, struct.pack(">i", -5)) == b""
    assert broker.alive()
    assert broker.metric("floe_rejected_frames_total") >= 2
    still_serving(broker, "after-oversized")


def test_unknown_api_key_and_version(broker):
    assert send_raw(broker, frame(9999, 0, 1)) == b""
    assert send_raw(broker, frame(0, 99, 2)) == b""  # Produce v99
    assert broker.alive()
    still_serving(broker, "after-unknown")


def test_too_new_api_versions_gets_an_error_answer(broker):
    answer = send_raw_one(broker, frame(18, 99, 42))
    size, correlation_id, error_code = struct.unpack(">iih", answer[:10])
    assert size == len(answer) - 4
    assert correlation_id == 42
    assert error_code == 35  # UNSUPPORTED_VERSION, with the versions Floe serves


def test_truncated_body_and_bad_crc(broker):
    # a Metadata v1 request whose topic array claims more than the frame holds
    assert send_raw(broker, frame(3, 1, 7, struct.pack(">i", 1000))) == b""
    create_topic(broker.bootstrap, "crc", 1)
    # Produce v3 with a record batch whose CRC is wrong: answered with CORRUPT_MESSAGE (2)
    batch = bytearray(61 + 4)
    struct.pack_into(">qiib", batch, 0, 0, len(batch) - 12, -1, 2)
    struct.pack_into(">I", batch, 17, 0xBADC0DE)
    struct.pack_into(">ii", batch, 57, 1, 0)  # recordCount
    body = struct.pack(">hhii", -1, -1, 5000, 1)  # null txn id, acks=-1, timeout, 1 topic
    body += struct.pack(">h", 3) + b"crc" + struct.pack(">ii", 1, 0) + struct.pack(">i", len(batch)) + bytes(batch)
    answer = send_raw_one(broker, frame(0, 3, 9, body))
    # v3 response: [topics: name, [partition, error_code, base_offset, log_append_time]]
    (correlation_id,) = struct.unpack(">i", answer[4:8])
    assert correlation_id == 9
    error_code = struct.unpack(">h", answer[8 + 4 + 2 + 3 + 4 + 4 : 8 + 4 + 2 + 3 + 4 + 4 + 2])[0]
    assert error_code == 2
    still_serving(broker, "after-crc")


def send_raw_one(broker, payload):
    """Sends one request and reads exactly one response frame."""
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
        s.sendall(payload)
        head = b""
        while len(head) < 4:
            head += s.recv(4 - len(head))
        (size,) = struct.unpack(">i", head)
        body = b""
        while len(body) < size:
            body += s.recv(size - len(body))
        return head + body


def test_metrics_report_requests_and_store_costs(broker):
    still_serving(broker, "metered")
    assert broker.metric("floe_requests_total", api="Produce") >= 1
    assert broker.metric("floe_requests_total", api="Fetch") >= 1
    assert broker.metric("floe_store_requests_total", op="put") >= 1
    assert broker.metric("floe_store_requests_total", op="put_if_absent") >= 1
    assert broker.metric("floe_bytes_in_total") > 0


def test_huge_element_counts_do_not_exhaust_memory(broker):
    """A few bytes claiming two billion array elements: the decoder sizes its
    collections from such counts, so this must cost nothing and end in a closed
    connection, never in an aborted broker."""
    huge = struct.pack(">i", 0x7FFFFFFF)
    for api, version, body in [
        (3, 1, huge),  # Metadata: topics
        (0, 3, struct.pack(">hhi", -1, -1, 1000) + huge),  # Produce: topic data
        (1, 4, struct.pack(">iiii", -1, 100, 1, 0x7FFFFFFF)),  # Fetch: topics
        (3, 12, b"\xff\xff\xff\xff\x0f"),  # Metadata v12: compact array, varint count
    ]:
        assert send_raw(broker, frame(api, version, 1, body)) == b""
        assert broker.alive(), broker.tail()
    still_serving(broker, "after-huge-counts")
