"""Which labelled photos may be trained on and which are held out to measure the model.

Decided once per photo by a hash of its bytes (its sha256), so the answer never changes, is
the same on every machine, and needs no stored random state. About 70 % train, 30 % held out.
Held-out photos never reach a training batch; reports on the photo dataset use only them."""

from __future__ import annotations

import hashlib

HELD_OUT_SHARE = 0.30
# Part of the hash input: changing it would reshuffle every photo, so it is fixed.
_SALT = b"fmnist-photo-split-v1:"


def is_held_out(photo_sha256: str) -> bool:
    digest = hashlib.sha256(_SALT + photo_sha256.encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < HELD_OUT_SHARE
