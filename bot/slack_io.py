"""Slack file downloads done safely: the bot token goes only to Slack's file hosts.

The bot token opens every private file in the workspace, so ``download_file`` sends it only
to the hosts in ``FOLIO_SLACK_FILE_HOSTS``: a URL or a redirect anywhere else is refused
before any request is made. Redirects are followed by hand for that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import aiohttp
from yarl import URL

from rag import (
    DownloadError,
    DownloadUnavailable,
    FileTooLarge,
    ForbiddenFileHost,
    LoginPageInsteadOfFile,
    byte_size,
)

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_PREFIXES = (b"<!doctype html", b"<html")


def host_allowed(url: URL, allowed_hosts: Sequence[str]) -> bool:
    """True when ``url``'s host is listed; an entry with a port must match the port too."""
    host = (url.host or "").rstrip(".").lower()
    for entry in allowed_hosts:
        allowed = URL(entry if "://" in entry else f"//{entry.strip()}")
        if (allowed.host or "").rstrip(".").lower() != host or not host:
            continue
        if allowed.explicit_port is None or allowed.explicit_port == url.port:
            return True
    return False


def _require_allowed(url: URL, allowed_hosts: Sequence[str], file_name: str) -> None:
    """Refuse, before any request, a URL that must not receive the bot token."""
    trusted = (
        url.scheme in ("https", "http")
        and url.user is None
        and url.password is None
        and host_allowed(url, allowed_hosts)
    )
    if not trusted:
        raise ForbiddenFileHost(
            f"{file_name} is not on a Slack file host folio trusts, so folio did not "
            "download it; share the file in Slack directly.",
            detail=f"refused download from host {url.host!r} (scheme {url.scheme!r})",
        )


def _redirect_target(response: aiohttp.ClientResponse, current: URL, file_name: str) -> URL:
    """Where a redirect points; a missing Location or an https->http downgrade is an error."""
    location = response.headers.get("Location")
    if not location:
        raise DownloadError(
            f"Slack answered the download of {file_name} with a broken redirect; "
            "try sharing it again.",
            detail=f"HTTP {response.status} without Location",
        )
    target = current.join(URL(location))
    if current.scheme == "https" and target.scheme != "https":
        raise ForbiddenFileHost(
            f"Slack redirected the download of {file_name} to an insecure address, so folio "
            "stopped; try sharing it again.",
            detail=f"refused https->{target.scheme} redirect to {target.host!r}",
        )
    return target


def _too_large(file_name: str, max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        f"{file_name} is larger than folio's {byte_size(max_bytes)} limit; "
        "share a smaller file or split it."
    )


def _login_page(file_name: str) -> LoginPageInsteadOfFile:
    return LoginPageInsteadOfFile(
        f"Slack sent a login page instead of {file_name}; "
        "reinstall folio so it has the files:read scope."
    )


def _status_error(status: int, file_name: str) -> DownloadError:
    if status in (404, 410):
        message = f"Slack could not find {file_name} (HTTP {status}); it may have been deleted."
    elif status in (401, 403):
        message = (
            f"Slack refused to send {file_name} (HTTP {status}); "
            "reinstall folio so it has the files:read scope."
        )
    elif status >= 500 or status == 429:
        return DownloadUnavailable(
            f"Slack answered HTTP {status} when folio downloaded {file_name}; "
            "folio will try again in a few minutes.",
            detail=f"download answered HTTP {status}",
        )
    else:
        message = (
            f"Slack answered HTTP {status} when folio downloaded {file_name}; "
            "try sharing it again in a few minutes."
        )
    return DownloadError(message, detail=f"download answered HTTP {status}")


def _looks_like_html(head: bytes) -> bool:
    return head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_PREFIXES)


async def _read_body(response: aiohttp.ClientResponse, file_name: str, max_bytes: int) -> bytes:
    """The body of a final answer, checked for status, login pages and the size cap."""
    if response.status != 200:
        raise _status_error(response.status, file_name)
    if response.content_type in _HTML_TYPES:
        raise _login_page(file_name)
    if response.content_length is not None and response.content_length > max_bytes:
        raise _too_large(file_name, max_bytes)
    data = bytearray()
    # Content-Length may be absent (chunked) or wrong, so the cap is enforced as bytes arrive.
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        data.extend(chunk)
        if len(data) > max_bytes:
            raise _too_large(file_name, max_bytes)
    if _looks_like_html(bytes(data[:512])):
        raise _login_page(file_name)
    return bytes(data)


async def download_file(
    session: aiohttp.ClientSession,
    url: str,
    *,
    token: str,
    allowed_hosts: Sequence[str],
    max_bytes: int,
    file_name: str,
) -> bytes:
    """Download a Slack file with the bot token, only ever sending it to ``allowed_hosts``.

    At most ``MAX_REDIRECTS`` redirects are followed, each only to an allowed host. Raises
    ForbiddenFileHost, FileTooLarge, LoginPageInsteadOfFile or DownloadError.
    """
    try:
        target = URL(url)
    except (TypeError, ValueError) as exc:
        raise ForbiddenFileHost(
            f"{file_name} has no usable Slack file address, so folio did not download it; "
            "share the file in Slack directly."
        ) from exc
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(MAX_REDIRECTS + 1):
        _require_allowed(target, allowed_hosts, file_name)
        try:
            async with session.get(target, headers=headers, allow_redirects=False) as response:
                if response.status not in _REDIRECT_STATUSES:
                    data = await _read_body(response, file_name, max_bytes)
                    logger.debug("downloaded %d bytes from %s", len(data), target.host)
                    return data
                target = _redirect_target(response, target, file_name)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DownloadUnavailable(
                f"folio could not reach Slack to download {file_name}; it will try again shortly.",
                detail=f"{type(exc).__name__} from {target.host}",
            ) from exc
    raise DownloadError(
        f"Slack redirected the download of {file_name} too many times; try sharing it again.",
        detail=f"more than {MAX_REDIRECTS} redirects",
    )
