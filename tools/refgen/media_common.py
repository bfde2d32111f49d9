"""Shared helpers for the media reference generators (run with Debian's /usr/bin/python3,
which has numpy and Pillow). The test programs rebuild the same synthetic images in C from
the same formulas, so fixtures only store sizes, seeds and hashes of Pillow's outputs."""
import zlib

import numpy as np


def crc32_hex(data) -> str:
    """zlib's CRC-32 of the bytes as 8 hex digits (tests/media_util.h: media_crc32)."""
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).tobytes()
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def mix32(x: np.ndarray) -> np.ndarray:
    """murmur3's 32-bit finaliser on uint32 arrays (wrapping arithmetic)."""
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return x


def synth_rgb(width: int, height: int, seed: int, kind: int) -> np.ndarray:
    """The synthetic test image, [height, width, 3] uint8 (tests/media_util.h:
    media_synth_rgb). kind 0: noise, byte i = mix32(seed * 0x9E3779B9 + i) >> 24.
    kind 1: a smooth ramp ((7x + 3y + 50c) mod 256) xor (noise mod 16)."""
    with np.errstate(over="ignore"):
        i = np.arange(width * height * 3, dtype=np.uint64).astype(np.uint32)
        base = np.uint32((seed * 0x85EBCA77) & 0xFFFFFFFF)
        noise = (mix32(i * np.uint32(0x9E3779B9) + base) >> np.uint32(24)).astype(np.uint8)
    if kind == 0:
        return noise.reshape(height, width, 3)
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    ramp = ((7 * x + 3 * y + 50 * c) % 256).astype(np.uint8)
    return ramp ^ (noise.reshape(height, width, 3) & np.uint8(15))
