"""Pillow tasks (``PIL.Image`` loads the non-isolated ``PIL._imaging``)."""

from __future__ import annotations

from PIL import Image, ImageFilter


def blur_checksum(seed, size=64):
    """Make a deterministic image, blur it, return the sum of its pixel values."""
    img = Image.new("L", (size, size))
    img.putdata([(x * 7 + seed * 13) % 256 for x in range(size * size)])
    out = img.filter(ImageFilter.GaussianBlur(2))
    return sum(out.tobytes())
