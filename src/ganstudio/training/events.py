"""Metrics logging: metrics.jsonl plus TensorBoard scalar event files, with no TensorBoard dependency.

An event file is a sequence of TFRecords, each a serialised `Event` protobuf; the few fields a
scalar needs are encoded by hand below.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from pathlib import Path

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _event(wall_time: float, step: int, body: bytes) -> bytes:
    return _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step)) + body


def _scalar_summary(tag: str, value: float) -> bytes:
    tag_bytes = tag.encode()
    value_msg = _field(1, 2, _varint(len(tag_bytes)) + tag_bytes) + _field(2, 5, struct.pack("<f", value))
    summary = _field(1, 2, _varint(len(value_msg)) + value_msg)
    return _field(5, 2, _varint(len(summary)) + summary)


class MetricsLogger:
    """Appends one JSON object per record to metrics.jsonl and the scalars to a TensorBoard file."""

    def __init__(self, run_dir: Path) -> None:
        self.jsonl = run_dir / "metrics.jsonl"
        events_dir = run_dir / "tensorboard"
        events_dir.mkdir(parents=True, exist_ok=True)
        self.events = events_dir / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        if not self.events.exists():
            version = _field(3, 2, _varint(len(b"brain.Event:2")) + b"brain.Event:2")
            self._write_record(_event(time.time(), 0, version))

    def _write_record(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        with open(self.events, "ab") as f:
            f.write(
                header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data))
            )

    def log(self, step: int, values: dict[str, float]) -> None:
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        now = time.time()
        for tag, value in values.items():
            if isinstance(value, int | float):
                self._write_record(_event(now, step, _scalar_summary(tag, float(value))))
