#!/usr/bin/env python3
"""Reads the TensorBoard event files of a t2r run (RUN/tensorboard/) and prints every tag with its
number of points, first and last (step, value), checking them against RUN/metrics.jsonl.

With TensorBoard installed (pip install tensorboard) the files are read by TensorBoard's own
EventAccumulator: what `tensorboard --logdir RUN` will show. Without it, by the decoder below (TFRecord
framing with both masked CRC-32C checks, and the protobuf fields of tensorflow.Event), written from the
format's description, independently of t2r's Java writer.

    python3 scripts/check-tensorboard.py runs/demo
"""
import glob
import json
import math
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift, value = 0, 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """{field number: [values]}: ints for varints, bytes for length-delimited, raw bytes for fixed."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wire)
        out.setdefault(number, []).append(v)
    return out


def read_events(path):
    """[(tag, step, value)] of one event file, every CRC checked."""
    data = open(path, "rb").read()
    scalars, i, first = [], 0, True
    while i < len(data):
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[i + 8:i + 12])
        assert length_crc == masked(crc32c(header)), "length CRC at byte %d" % i
        record = data[i + 12:i + 12 + length]
        (data_crc,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        assert data_crc == masked(crc32c(record)), "data CRC at byte %d" % i
        i += 16 + length
        event = fields(record)
        if first:
            assert event[3][0] == b"brain.Event:2", event
            first = False
            continue
        step = event.get(2, [0])[0]
        for value in fields(event[5][0]).get(1, []):
            v = fields(value)
            scalars.append((v[1][0].decode(), step, struct.unpack("<f", v[2][0])[0]))
    return scalars


def with_tensorboard(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(os.path.join(run, "tensorboard"))
    acc.Reload()
    return [(tag, e.step, e.value) for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]


def main(run):
    files = sorted(glob.glob(os.path.join(run, "tensorboard", "events.out.tfevents.*")))
    assert len(files) == 1, "expected one event file, found %s" % files
    try:
        scalars, reader = with_tensorboard(run), "TensorBoard's EventAccumulator"
    except ImportError:
        scalars, reader = read_events(files[0]), "the decoder of this script (no tensorboard module here)"
    by_tag = {}
    for tag, step, value in scalars:
        by_tag.setdefault(tag, []).append((step, value))
    print("%s: %d scalars in %d tags, read by %s" % (files[0], len(scalars), len(by_tag), reader))
    for tag in sorted(by_tag):
        points = by_tag[tag]
        print("  %-28s %5d points  first %s  last %s" % (tag, len(points), points[0], points[-1]))
    # Every number of metrics.jsonl is there, at its global step, to float32 precision.
    skip = {"type", "stage", "stage_index", "step", "global_step", "tokens", "elapsed_s", "positions", "message"}
    expected = 0
    for line in open(os.path.join(run, "metrics.jsonl")):
        m = json.loads(line)
        if m.get("type") not in ("step", "eval"):
            continue
        for k, v in m.items():
            if k in skip or not isinstance(v, (int, float)):
                continue
            expected += 1
            got = [val for s, val in by_tag.get(m["stage"] + "/" + k, []) if s == m["global_step"]]
            assert got and math.isclose(got[-1], v, rel_tol=1e-6, abs_tol=1e-30), (m["stage"], k, m["global_step"], v, got)
    assert expected == len(scalars), (expected, len(scalars))
    print("ok: the events agree with metrics.jsonl (%d values)" % expected)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
