"""Just enough PNG reading to sample pixels of a rendered chart (8-bit RGB or RGBA, not interlaced, as
rsvg-convert writes), without an imaging library."""

import struct
import zlib

__all__ = ["read_png"]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def read_png(data: bytes) -> tuple[int, int, list[bytearray], int]:
    """(width, height, rows of raw samples, samples per pixel)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, header = 8, b"", b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    step = 3 if colour == 2 else 4
    stride, raw = width * step, zlib.decompress(idat)
    rows, prior = [], bytearray(stride)
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - step] if i >= step else 0
            up, corner = prior[i], (prior[i - step] if i >= step else 0)
            add = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
            row[i] = (row[i] + add) & 0xFF
        rows.append(row)
        prior = row
    return width, height, rows, step
