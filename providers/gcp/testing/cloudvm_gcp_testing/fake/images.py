"""Custom images made from a disk image archive in Cloud Storage (``images.insert`` with
``rawDisk.source``), read from the Cloud Storage emulator the fake is given and held to the layout
Compute Engine documents (https://cloud.google.com/compute/docs/import/import-existing-image): a
gzip-compressed tar archive, GNU or OLDGNU format, whose one file is ``disk.raw``, a whole number
of GiB; refused with the errors Compute Engine gives, before anything is made."""

from __future__ import annotations

import gzip
import io
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from typing import Any

from cloudvm_gcp_testing.fake.api import Api, Params, Query
from cloudvm_gcp_testing.fake.compute import ApiError, _fingerprint, _id, now_text

GIB = 1 << 30
_INPUT = ("name", "description", "labels", "family", "guestOsFeatures", "architecture", "storageLocations")
_HOSTS = ("https://storage.googleapis.com/", "http://storage.googleapis.com/", "storage.googleapis.com/", "gs://")


class Images(Api):
    def images_insert(self, p: Params, q: Query, body: dict[str, Any]) -> dict[str, Any]:
        project, name = p["project"], body.get("name")
        path = f"projects/{project}/global/images/{name}"
        self.c.check_new(path, name)
        self.c.check_labels(body.get("labels") or {})
        source = (body.get("rawDisk") or {}).get("source")
        if not source:
            raise ApiError(400, "required", "Required field 'rawDisk.source' not specified")
        size = _disk_size(self._archive(str(source)))
        image = {"kind": "compute#image", "id": _id(), "creationTimestamp": now_text(), "sourceType": "RAW",
                 "rawDisk": {"source": source, "containerType": "TAR"}, "status": "PENDING",
                 "diskSizeGb": str(size // GIB), "archiveSizeBytes": str(size), "labels": {},
                 "labelFingerprint": _fingerprint(), "architecture": "X86_64", "storageLocations": ["us"],
                 "guestOsFeatures": [],
                 "selfLink": f"https://www.googleapis.com/compute/v1/{path}",
                 **{k: v for k, v in body.items() if k in _INPUT}}
        failure = self._failure()
        op = self.c.operation(f"projects/{project}/global", "insert", path, image["id"], failure)
        if not failure:
            self.c._put(path, image)
            self.c.later(self.c.timing.snapshot, path, "READY")
        return op

    def images_delete(self, p: Params, q: Query, body: Any) -> dict[str, Any]:
        return self._delete(f"projects/{p['project']}/global", f"images/{p['image']}")

    def _archive(self, source: str) -> bytes:
        """The object ``source`` names, from the Cloud Storage emulator."""
        bucket_object = next((source[len(h):] for h in _HOSTS if source.startswith(h)), None)
        if bucket_object is None or "/" not in bucket_object:
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.rawDisk.source': '{source}'. "
                                           "The URL is malformed.")
        bucket, _, obj = bucket_object.partition("/")
        if self.c.storage_url is None:
            raise ApiError(400, "invalid", f"The resource '{source}' could not be read: this fake was started "
                                           "without a Cloud Storage emulator")
        url = (f"{self.c.storage_url}/download/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o/"
               f"{urllib.parse.quote(obj, safe='')}?alt=media")
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:
                data: bytes = answer.read()
                return data
        except urllib.error.HTTPError:
            raise ApiError(404, "notFound", f"The resource '{source}' was not found") from None


def _disk_size(archive: bytes) -> int:
    """The size of the archive's ``disk.raw``, as Compute Engine checks the archive."""
    try:
        raw = gzip.decompress(archive)
    except (OSError, EOFError, zlib.error):
        raise ApiError(400, "invalid", "The tar archive is not a valid image.") from None
    header = raw[:512]
    if header[257:265] not in (b"ustar  \0", b"ustar  \x00"):  # GNU and OLDGNU write "ustar  \0"
        raise ApiError(400, "invalid", "The tar archive format is not supported. Supported formats are: GNU "
                                       "and OLDGNU.")
    try:
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            members = tar.getmembers()
    except tarfile.TarError:
        raise ApiError(400, "invalid", "The tar archive is not a valid image.") from None
    if len(members) != 1 or members[0].name != "disk.raw":
        named = members[0].name if members else ""
        raise ApiError(400, "invalid", f"The file inside the tar archive was named '{named}'. It should be named "
                                       "'disk.raw'.")
    size = members[0].size
    if size == 0 or size % GIB:
        raise ApiError(400, "invalid", f"The disk image size must be a multiple of 1 GB; disk.raw is {size} bytes.")
    return size
