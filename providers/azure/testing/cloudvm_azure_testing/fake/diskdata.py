"""What managed disks, snapshots and disk restore points hold, kept where Azure keeps it: a page
blob each, here in Azurite (the Azure Storage emulator). ``grantAccess`` hands out a SAS URI to
the blob; a copy (a snapshot of a disk, a disk from a snapshot, a restore point, a restore) copies
the blob, so bytes uploaded come back out of whatever was made from them. A resource made from a
marketplace image holds no blob: its bytes read as zeros."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobSasPermissions, BlobServiceClient, generate_blob_sas
from cloudvm_azure import vhd

# Azurite's one account and its published key: https://learn.microsoft.com/azure/storage/common/
# storage-use-azurite#well-known-storage-account-and-key
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BLOB = "abcd"  # every managed disk's blob is named so in its own container


class DiskData:
    def __init__(self, url: str, ca_file: str) -> None:
        self.service = BlobServiceClient(f"{url}/{ACCOUNT}", credential={"account_name": ACCOUNT, "account_key": KEY},
                                         connection_verify=ca_file)

    def _blob(self, rid: str) -> BlobClient:
        return self.service.get_blob_client(self._container(rid), BLOB)

    @staticmethod
    def _container(rid: str) -> str:
        return "md-" + hashlib.sha256(rid.lower().encode()).hexdigest()[:40]

    def _container_made(self, rid: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.service.create_container(self._container(rid))

    def size(self, rid: str) -> int | None:
        """The blob's size (data and footer), None without one."""
        try:
            return int(self._blob(rid).get_blob_properties().size)
        except ResourceNotFoundError:
            return None

    def create(self, rid: str, size: int, *, footer: bool = False) -> None:
        """An empty page blob of ``size`` bytes (with a fixed-VHD footer at its end if ``footer``)."""
        self._container_made(rid)
        blob = self._blob(rid)
        blob.create_page_blob(size)
        if footer:
            blob.upload_page(vhd.footer(size - vhd.SIZE), offset=size - vhd.SIZE, length=vhd.SIZE)

    def copy(self, source: str, rid: str) -> None:
        """``rid`` holds what ``source`` holds (nothing, if it holds nothing)."""
        if self.size(source) is None:
            return
        self._container_made(rid)
        self._blob(rid).start_copy_from_url(self._blob(source).url, requires_sync=False)

    def resize(self, rid: str, size: int) -> None:
        """The disk's data grown to ``size`` bytes, its footer moved to the new end (if it holds any)."""
        was = self.size(rid)
        if was is None or was == size + vhd.SIZE:
            return
        blob = self._blob(rid)
        blob.clear_page(offset=was - vhd.SIZE, length=vhd.SIZE)
        blob.resize_blob(size + vhd.SIZE)
        blob.upload_page(vhd.footer(size), offset=size, length=vhd.SIZE)

    def footer(self, rid: str) -> tuple[bytes, int]:
        """The blob's last 512 bytes, and the size of the data before them."""
        size = self.size(rid) or 0
        data = self._blob(rid).download_blob(offset=max(size - vhd.SIZE, 0), length=min(size, vhd.SIZE)).readall()
        return data, size - vhd.SIZE

    def uri(self, rid: str, *, write: bool, seconds: int) -> str:
        """A SAS URI to the blob, for reading (and writing, if ``write``) until it expires."""
        blob = self._blob(rid)
        token = generate_blob_sas(ACCOUNT, blob.container_name, BLOB, account_key=KEY,
                                  permission=BlobSasPermissions(read=True, write=write),
                                  expiry=datetime.now(UTC) + timedelta(seconds=seconds))
        return f"{blob.url}?{token}"

    def drop(self, rid: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.service.delete_container(self._container(rid))
