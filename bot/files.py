"""Slack files as folio sees them: which kind they are, their full info, and their bytes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from bot.gateway import SlackGateway
from bot.slack_io import download_file
from rag import DownloadError, QueryImage, kind_by_name

logger = logging.getLogger(__name__)

SlackFile = Mapping[str, Any]

MAX_QUERY_IMAGES = 4
MAX_QUERY_DOCUMENTS = 2
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/tiff"})


def file_name(file: SlackFile) -> str:
    """The file's name as shared (its title when Slack gives no name)."""
    return str(file.get("name") or file.get("title") or file.get("id") or "file")


def kind_of(file: SlackFile) -> str | None:
    """What folio reads the file as (``pdf``, ``image``, Office and text kinds), else None."""
    mimetype = str(file.get("mimetype") or "").lower()
    if mimetype == "application/pdf":
        return "pdf"
    if mimetype in IMAGE_TYPES:
        return "image"
    kind = kind_by_name(file_name(file))
    if mimetype and kind in ("pdf", "image"):
        return None  # named like one, but Slack says it is not (a login page, a HEIC photo)
    return kind  # Office and text files: Slack's mimetypes for them vary, their names do not


class SlackFiles:
    """Reads Slack files with the bot token, sending it only to the allowed file hosts."""

    def __init__(
        self,
        *,
        gateway: SlackGateway,
        session: aiohttp.ClientSession | None,
        token: str,
        allowed_hosts: Sequence[str],
        max_bytes: int,
    ) -> None:
        self._gateway = gateway
        self._session = session
        self._token = token
        self._allowed_hosts = tuple(allowed_hosts)
        self._max_bytes = max_bytes

    async def info(self, file_id: str) -> dict[str, Any]:
        """files.info for one file; a missing or unreadable file is a DownloadError."""
        return await self._gateway.file_info(file_id)

    async def complete(self, file: SlackFile) -> SlackFile:
        """The file with its name, type and URLs (events may carry only the id)."""
        if file.get("name") and file.get("mimetype") and _url(file):
            return file
        return await self.info(str(file["id"]))

    async def download(self, file: SlackFile) -> bytes:
        """The file's bytes (ForbiddenFileHost, LoginPageInsteadOfFile, FileTooLarge...)."""
        url = _url(file)
        name = file_name(file)
        if not url:
            raise DownloadError(f"Slack gave no download address for {name}; share it again.")
        if self._session is not None:
            return await self._download(self._session, url, name)
        async with aiohttp.ClientSession() as session:
            return await self._download(session, url, name)

    async def query_images(self, files: Sequence[SlackFile]) -> list[QueryImage]:
        """The pictures attached to a question, downloaded (at most ``MAX_QUERY_IMAGES``)."""
        images: list[QueryImage] = []
        for raw in files:
            if len(images) >= MAX_QUERY_IMAGES:
                break
            file = await self.complete(raw)
            if kind_of(file) != "image":
                logger.debug("question attachment %s is not an image; skipped", file.get("id"))
                continue
            images.append(QueryImage(data=await self.download(file), name=file_name(file)))
        return images

    async def query_documents(self, files: Sequence[SlackFile]) -> list[QueryImage]:
        """The PDFs sent with a question, downloaded (at most ``MAX_QUERY_DOCUMENTS``)."""
        documents: list[QueryImage] = []
        for raw in files:
            if len(documents) >= MAX_QUERY_DOCUMENTS:
                break
            file = await self.complete(raw)
            if kind_of(file) == "pdf":
                documents.append(QueryImage(data=await self.download(file), name=file_name(file)))
        return documents

    async def pdf_names(self, files: Sequence[SlackFile]) -> list[str]:
        """The names of the PDFs among ``files`` (the ones folio reads with a DM question)."""
        completed = [await self.complete(raw) for raw in files]
        return [file_name(file) for file in completed if kind_of(file) == "pdf"]

    async def _download(self, session: aiohttp.ClientSession, url: str, name: str) -> bytes:
        return await download_file(
            session,
            url,
            token=self._token,
            allowed_hosts=self._allowed_hosts,
            max_bytes=self._max_bytes,
            file_name=name,
        )


def _url(file: SlackFile) -> str | None:
    url = file.get("url_private_download") or file.get("url_private")
    return str(url) if url else None
