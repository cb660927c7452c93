"""Photos for tests: the team's real photos under ../shared (never copied into the repository),
and small images made in memory with Pillow."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    return Path(os.environ.get("SHARED_DIR") or REPO.parent / "shared")


def shared_photos() -> Path:
    """../shared/photos, or a skip that says where it was looked for."""
    folder = shared_dir() / "photos"
    if not (folder / "manifest.csv").is_file():
        pytest.skip(f"the team's photos are not at {folder} (set SHARED_DIR to the folder holding photos/)")
    return folder


def encoded(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def item_on_white(size=(120, 160), box=(30, 20, 90, 140), colour=(20, 20, 20)) -> Image.Image:
    """A dark rectangle (the item) on a white background."""
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(colour, box)
    return image


def jpeg_bytes(**kwargs) -> bytes:
    return encoded(item_on_white(**kwargs), "JPEG", quality=90)


def png_bytes(**kwargs) -> bytes:
    return encoded(item_on_white(**kwargs), "PNG")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's shape."""
    import struct
    import zlib

    data = encoded(Image.new("L", (8, 8)), "PNG")
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # Signature (8 bytes), then IHDR: length (4), type and data (17), CRC (4).
    return data[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[8 + 25:]


def upload(data: bytes, name: str = "photo.jpg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/jpeg")
