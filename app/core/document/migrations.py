"""Upgrades of older project files, one format version at a time.

`MIGRATIONS[v]` turns a version-v document into a version-(v+1) one. Loading applies them
in order up to `CURRENT_VERSION`; a file from a newer Graft is refused with a clear message
instead of being misread."""

from __future__ import annotations

from collections.abc import Callable

CURRENT_VERSION = 3

Migration = Callable[[dict], dict]
MIGRATIONS: dict[int, Migration] = {
    1: lambda document: {**document, "cards": []},  # 2 keeps pretrained models' cards
    2: lambda document: {**document, "training": None},  # 3 keeps the training setup
}


class MigrationError(ValueError):
    pass


def migrate(document: dict, version: int) -> dict:
    if version > CURRENT_VERSION:
        raise MigrationError(
            f"format_version {version}: written by a newer Graft (this one reads up to "
            f"{CURRENT_VERSION}); update Graft to open it")
    while version < CURRENT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise MigrationError(f"format_version {version} is not supported "
                                 f"(oldest readable: {min(MIGRATIONS, default=CURRENT_VERSION)})")
        document = step(dict(document))
        version += 1
        document["format_version"] = version
    return document
