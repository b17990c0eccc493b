"""Just enough PNG decoding (stdlib zlib) to look at the pixels of a browser's screenshot.

8-bit RGB or RGBA, not interlaced: what Chromium writes. Rows are unfiltered one by one, so a caller
may stop after the rows it wants to look at.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = len(SIGNATURE)
    while pos < len(data):
        (length, kind) = struct.unpack(">I4s", data[pos:pos + 8])
        yield kind, data[pos + 8:pos + 8 + length]
        pos += 12 + length


def size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(SIGNATURE), f"{path} is not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def rows(path: Path, limit: int | None = None) -> Iterator[list[tuple[int, ...]]]:
    """The image's rows of pixels (tuples of channel values), top first, at most ``limit`` of them."""
    data = path.read_bytes()
    assert data.startswith(SIGNATURE), f"{path} is not a PNG file"
    header = {kind: body for kind, body in _chunks(data) if kind == b"IHDR"}[b"IHDR"]
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and not interlace, f"unsupported PNG (depth {depth}, color {color})"
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    inflate = zlib.decompressobj()
    compressed = b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")
    buffer, previous = bytearray(), bytearray(stride)
    for _ in range(height if limit is None else min(limit, height)):
        while len(buffer) < stride + 1:
            chunk, compressed = compressed[:1 << 16], compressed[1 << 16:]
            buffer += inflate.decompress(chunk) if chunk else inflate.flush()
            if not chunk and len(buffer) < stride + 1:
                raise ValueError("truncated PNG data")
        kind, line = buffer[0], bytearray(buffer[1:stride + 1])
        del buffer[:stride + 1]
        _unfilter(kind, line, previous, bpp)
        yield [tuple(line[i:i + bpp]) for i in range(0, stride, bpp)]
        previous = line


def _unfilter(kind: int, line: bytearray, above: bytearray, bpp: int) -> None:
    if kind == 0:
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + above[i]) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((left + above[i]) >> 1)) & 0xFF
        elif kind == 4:
            up_left = above[i - bpp] if i >= bpp else 0
            p = left + above[i] - up_left
            pa, pb, pc = abs(p - left), abs(p - above[i]), abs(p - up_left)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else above[i] if pb <= pc else up_left)) & 0xFF
        else:
            raise ValueError(f"unknown PNG filter {kind}")
