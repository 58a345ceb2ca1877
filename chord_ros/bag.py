"""rosbag2 files of chord topics, written and read with `rosbags`.

Payloads are CDR bytes produced by rclpy's own serializer, and each connection carries its
message definition from a typestore that knows chord_msgs, so the bags open in ``ros2 bag`` and
deserialize in rclpy.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from chord_core.errors import ChordError

CHORD_MESSAGES = ("ObjectFlow", "Grasp", "PlanReport")


def chord_msgs_share() -> Path:
    """The installed share/chord_msgs directory (ament index first, then the module's prefix)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("chord_msgs"))
    except Exception:  # no AMENT_PREFIX_PATH (pip-only setup): derive from the module location
        import chord_msgs

        # <prefix>/lib/pythonX.Y/site-packages/chord_msgs/__init__.py -> <prefix>/share/chord_msgs
        share = Path(chord_msgs.__file__).resolve().parents[4] / "share" / "chord_msgs"
        if not share.is_dir():
            raise ChordError(f"chord_msgs interface files not found at {share}; run scripts/setup.sh") from None
        return share


def chord_typestore() -> Typestore:
    """ROS 2 kilted standard types plus the chord_msgs messages."""
    store = get_typestore(Stores.ROS2_KILTED)
    share = chord_msgs_share()
    types = {}
    for name in CHORD_MESSAGES:
        text = (share / "msg" / f"{name}.msg").read_text()
        types.update(get_types_from_msg(text, f"chord_msgs/msg/{name}"))
    store.register(types)
    return store


def type_name(msg: object) -> str:
    """'pkg/msg/Name' of an rclpy message instance."""
    cls = type(msg)
    package, kind = cls.__module__.split(".")[:2]
    return f"{package}/{kind}/{cls.__name__}"


def message_class(name: str) -> type:
    """The rclpy message class for 'pkg/msg/Name'."""
    try:
        package, kind, cls = name.split("/")
        return getattr(importlib.import_module(f"{package}.{kind}"), cls)
    except (ValueError, ImportError, AttributeError) as exc:
        raise ChordError(f"unknown ROS message type '{name}'") from exc


@dataclass
class BagMessage:
    topic: str
    type_name: str
    stamp_ns: int
    data: bytes

    def deserialize(self) -> object:
        return deserialize_message(self.data, message_class(self.type_name))


class BagWriter:
    """Append rclpy messages (or their CDR bytes) to a new rosbag2 directory (MCAP by default)."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ChordError(f"bag storage must be one of {sorted(plugins)}, got '{storage}'")
        self.path = Path(path)
        if self.path.exists():
            raise ChordError(f"bag {self.path} already exists; choose a new directory")
        self._typestore = chord_typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self._connections: dict[tuple[str, str], object] = {}

    def open(self) -> BagWriter:
        self._writer.open()
        return self

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def write_serialized(self, topic: str, msg_type: str, data: bytes, stamp_ns: int) -> None:
        key = (topic, msg_type)
        if key not in self._connections:
            if msg_type not in self._typestore.types:
                raise ChordError(f"cannot record {topic}: type {msg_type} is not in the bag typestore")
            self._connections[key] = self._writer.add_connection(topic, msg_type, typestore=self._typestore)
        self._writer.write(self._connections[key], stamp_ns, data)

    def write(self, topic: str, msg: object, stamp_ns: int) -> None:
        self.write_serialized(topic, type_name(msg), serialize_message(msg), stamp_ns)


def read_bag(path: str | Path) -> Iterator[BagMessage]:
    """Messages of a rosbag2 directory in time order.

    A bag whose recorder was killed has no metadata.yaml (rosbag2 writes it on close) and an MCAP
    file without its summary: its messages are recovered up to the last complete chunk
    (`recover_mcap`)."""
    path = Path(path)
    if not path.is_dir():
        raise ChordError(f"bag directory not found: {path}")
    if not (path / "metadata.yaml").is_file():
        files = sorted(path.glob("*.mcap"))
        if len(files) != 1:
            raise ChordError(f"bag {path} has no metadata.yaml and {len(files)} .mcap files; nothing to recover")
        yield from recover_mcap(files[0])
        return
    with Reader(path) as reader:
        for connection, stamp, data in reader.messages():
            yield BagMessage(connection.topic, connection.msgtype, stamp, bytes(data))


def recover_mcap(file: Path) -> Iterator[BagMessage]:
    """Messages of an MCAP file read front to back (the `mcap` library's stream reader), stopping
    at the first incomplete record: what a killed recorder left."""
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, str]] = {}
    with open(file, "rb") as stream:
        try:
            for record in StreamReader(stream).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel):
                    channels[record.id] = (record.topic, schemas.get(record.schema_id, ""))
                elif isinstance(record, Message) and record.channel_id in channels:
                    topic, type_name = channels[record.channel_id]
                    yield BagMessage(topic, type_name, record.log_time, bytes(record.data))
        except (McapError, EOFError, ValueError, struct.error):
            return  # the incomplete tail
