"""The embedded development broker (codeai/broker.py): kombu's filesystem transport, with
message files that a polling worker only ever sees whole."""

import pytest
from kombu import Connection

from codeai import broker
from codeai.celery import app  # noqa: F401  (it points filesystem:// at codeai.broker)


@pytest.fixture
def channel(tmp_path):
    folder = str(tmp_path)
    connection = Connection(
        "filesystem://",
        transport_options={
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": folder,
            "store_processed": False,
        },
    )
    with connection:
        yield connection.default_channel


def test_a_message_being_written_is_invisible_to_a_polling_reader(channel, monkeypatch):
    seen_while_writing = []
    encode = broker.str_to_bytes

    def encode_and_look(text):
        # Called with the message file open for writing: what would a worker see now?
        seen_while_writing.append(channel._size("jobs"))
        return encode(text)

    monkeypatch.setattr(broker, "str_to_bytes", encode_and_look)
    channel._put("jobs", {"body": "é"})
    assert seen_while_writing == [0]
    assert channel._size("jobs") == 1


def test_a_written_message_is_read_back_whole(channel):
    channel._put("jobs", {"body": "é", "n": 1})
    assert channel._get("jobs") == {"body": "é", "n": 1}
    assert channel._size("jobs") == 0


def test_filesystem_broker_urls_use_the_atomic_transport(channel):
    assert isinstance(channel.connection, broker.Transport)
