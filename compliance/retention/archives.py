"""Cold-storage archives: gzip-compressed JSON Lines (one `{"model": label, "row": {...}}` per
line) plus a manifest (row counts per model, the root rows' ids, SHA-256 of the compressed file),
through Django's storage API (`STORAGES["archives"]`: the local filesystem by default, an
S3-compatible store such as MinIO through django-storages when configured)."""

import gzip
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

from compliance.encoding import dumps
from compliance.retention.pause_points import pause_point

ARCHIVE_SCHEMA_VERSION = 1


class ArchiveInvalid(Exception):
    """An archive that does not match its manifest (missing, partial, changed)."""


def archive_storage() -> Storage:
    return storages["archives"]


@dataclass(frozen=True)
class Manifest:
    job: str
    batch_id: str
    root_model: str
    root_ids: list[Any]
    row_counts: dict[str, int]
    sha256: str
    archive_name: str

    def as_json(self) -> str:
        return json.dumps(
            {"schema_version": ARCHIVE_SCHEMA_VERSION, **self.__dict__}, sort_keys=True, indent=1
        )


def write_archive(
    *,
    job: str,
    batch_id: str,
    archive_name: str,
    manifest_name: str,
    root_model: str,
    root_ids: list[Any],
    lines: Iterable[tuple[str, dict[str, Any]]],
) -> Manifest:
    """Write the archive, then its manifest (a reader that finds a manifest finds its archive).
    The batch is bounded, so it is compressed in memory before it is stored."""
    buffer = io.BytesIO()
    counts: Counter[str] = Counter()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed:
        for label, row in lines:
            compressed.write((dumps({"model": label, "row": row}) + "\n").encode())
            counts[label] += 1
    payload = buffer.getvalue()
    storage = archive_storage()
    _replace(storage, archive_name, payload)
    pause_point("archive_stored")
    manifest = Manifest(
        job=job,
        batch_id=batch_id,
        root_model=root_model,
        root_ids=[str(pk) for pk in root_ids],
        row_counts=dict(counts),
        sha256=hashlib.sha256(payload).hexdigest(),
        archive_name=archive_name,
    )
    _replace(storage, manifest_name, manifest.as_json().encode())
    return manifest


def _replace(storage: Storage, name: str, payload: bytes) -> None:
    if storage.exists(name):
        storage.delete(name)
    saved = storage.save(name, ContentFile(payload))
    if saved != name:
        raise ArchiveInvalid(f"The storage saved {name} as {saved}.")


def read_manifest(manifest_name: str) -> Manifest:
    storage = archive_storage()
    if not storage.exists(manifest_name):
        raise ArchiveInvalid(f"No manifest {manifest_name}.")
    with storage.open(manifest_name, "rb") as handle:
        data = json.loads(handle.read())
    data.pop("schema_version", None)
    return Manifest(**data)


def read_rows(manifest: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    """The archive's lines, after its checksum is checked against the manifest."""
    storage = archive_storage()
    if not storage.exists(manifest.archive_name):
        raise ArchiveInvalid(f"No archive {manifest.archive_name}.")
    with storage.open(manifest.archive_name, "rb") as handle:
        payload = handle.read()
    if hashlib.sha256(payload).hexdigest() != manifest.sha256:
        raise ArchiveInvalid(f"{manifest.archive_name} does not match its manifest's checksum.")
    try:
        text = gzip.decompress(payload).decode()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ArchiveInvalid(f"{manifest.archive_name} cannot be read: {error}") from error
    for line in text.splitlines():
        entry = json.loads(line)
        yield entry["model"], entry["row"]


def verify_archive(manifest_name: str, *, expected_ids: list[Any] | None = None) -> Manifest:
    """Read the archive back from storage and check it against its manifest (checksum, row
    counts, the root rows' ids) and, if given, against the ids the batch took."""
    manifest = read_manifest(manifest_name)
    counts: Counter[str] = Counter()
    root_ids: list[str] = []
    for label, row in read_rows(manifest):
        counts[label] += 1
        if label == manifest.root_model:
            root_ids.append(str(row["id"]))
    if dict(counts) != manifest.row_counts:
        raise ArchiveInvalid(f"{manifest.archive_name}: row counts differ from the manifest.")
    if sorted(root_ids) != sorted(manifest.root_ids):
        raise ArchiveInvalid(f"{manifest.archive_name}: rows differ from the manifest's ids.")
    if expected_ids is not None and sorted(map(str, expected_ids)) != sorted(root_ids):
        raise ArchiveInvalid(f"{manifest.archive_name}: not the rows of its batch.")
    return manifest
