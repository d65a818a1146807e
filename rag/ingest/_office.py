"""Office and OpenDocument files -> PDF with headless LibreOffice, inside the parse child.

Each conversion gets a fresh LibreOffice profile in a private temporary folder, so no
state (recent files, a crashed instance's lock, a changed setting) carries over between
untrusted files. The profile turns macros off and points LibreOffice's network at a closed
local port; where unprivileged network namespaces are allowed, ``unshare`` also gives the
converter no network at all. LibreOffice runs in the parse child's process group under its
memory limit, so the parent's deadline kills it with the child; a conversion past its own
deadline kills every process it started before its folder is removed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from functools import cache
from pathlib import Path, PurePosixPath

from rag.errors import ConverterMissing, CorruptDocument, ParseTimeout
from rag.ingest._sniff import Format

logger = logging.getLogger(__name__)

SOFFICE_NAMES = ("soffice", "libreoffice")
DEBIAN_PACKAGES = {
    "document": "libreoffice-writer-nogui",
    "presentation": "libreoffice-impress-nogui",
    "spreadsheet": "libreoffice-calc-nogui",
}
INSTALL_ALL = "apt-get install " + " ".join(DEBIAN_PACKAGES.values())
# Comma-separated, double-quoted, UTF-8 (76), first line as a normal row.
_CSV_FILTER = "--infilter=CSV:44,34,76,1"
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
# Macros off (level 3 = only trusted locations, none configured; execution disabled), no
# Java, no links to other files or sites refreshed on load, and every request LibreOffice
# might make sent through a proxy on the discard port of this machine, which refuses it.
_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
{items}
</oor:items>
"""
_SETTINGS = (
    ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "3"),
    ("/org.openoffice.Office.Common/Security/Scripting", "DisableMacrosExecution", "true"),
    ("/org.openoffice.Office.Common/Security/Scripting", "BlockUntrustedRefererLinks", "true"),
    ("/org.openoffice.Office.Java", "Enable", "false"),
    ("/org.openoffice.Office.Writer/Content/Update", "Link", "0"),  # Writer: 0 = never
    ("/org.openoffice.Office.Calc/Content/Update", "Link", "1"),  # Calc: 1 = never
    ("/org.openoffice.Inet/Settings", "ooInetProxyType", "2"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPSProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPSProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetFTPProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetFTPProxyPort", "9"),
)
_UNSAFE = re.compile(r"[^\w.-]+")
_KILL_WAIT_S = 5.0
_MEMORY_MARKERS = ("bad_alloc", "out of memory", "cannot allocate")


def find_soffice() -> str | None:
    """The LibreOffice command on PATH (``soffice``, else ``libreoffice``), or None."""
    for name in SOFFICE_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def convert_to_pdf(data: bytes, fmt: Format, file_name: str, *, timeout_s: float) -> bytes:
    """The file as PDF, converted by a fresh headless LibreOffice; errors say what to do."""
    soffice = find_soffice()
    if soffice is None:
        raise ConverterMissing(
            f"folio can't read {file_name} yet: its server has no LibreOffice, which folio "
            f"uses to read Office files. Ask whoever runs folio to install it (Debian or "
            f"Ubuntu: `apt-get install {DEBIAN_PACKAGES[fmt.kind]}`), then share the file again.",
            detail="soffice not found on PATH",
        )
    # A LibreOffice stopped mid-write could leave a file behind; the error the user sees
    # is the conversion's, never the clean-up's.
    with tempfile.TemporaryDirectory(prefix="folio-office-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        # The stem shows where a spreadsheet prints its sheet name; only safe characters.
        stem = _safe_stem(file_name)
        source = work / f"{stem}.{fmt.suffix}"
        source.write_bytes(data)
        argv = _command(soffice, work, source, fmt)
        started = time.monotonic()
        result = _run(argv, work, file_name, timeout_s)
        converted = work / "out" / f"{stem}.pdf"
        if result.returncode != 0 or not converted.exists():
            raise _failed(file_name, fmt, result)
        logger.info(
            "LibreOffice converted a %s of %d bytes in %.1f s",
            fmt.suffix,
            len(data),
            time.monotonic() - started,
        )
        return converted.read_bytes()


def _safe_stem(file_name: str) -> str:
    stem = _UNSAFE.sub("_", PurePosixPath(file_name).stem).strip("._")[:60]
    return stem or "document"


def _command(soffice: str, work: Path, source: Path, fmt: Format) -> list[str]:
    profile = work / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_profile_xml(), "utf-8")
    argv = [
        soffice,
        "--headless",
        "--invisible",
        "--norestore",
        "--nologo",
        "--nodefault",
        "--nolockcheck",
        "--nofirststartwizard",
        f"-env:UserInstallation={profile.as_uri()}",
    ]
    if fmt.suffix == "csv":
        argv.append(_CSV_FILTER)
    argv += ["--convert-to", "pdf", "--outdir", str(work / "out"), str(source)]
    return [*_no_network_prefix(), *argv]


def _profile_xml() -> str:
    items = "\n".join(
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse">'
        f"<value>{value}</value></prop></item>"
        for path, name, value in _SETTINGS
    )
    return _PROFILE.format(items=items)


@cache
def _no_network_prefix() -> tuple[str, ...]:
    """``unshare -rn`` (a new user and network namespace) where this system allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run(
            [unshare, "-rn", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


def _run(
    argv: list[str], work: Path, file_name: str, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    env = {name: os.environ[name] for name in _ENV_KEEP if name in os.environ}
    env["HOME"] = str(work)  # LibreOffice writes caches under HOME; keep them in the tmp dir
    # In the parse child (which leads its own session) LibreOffice stays in the child's
    # group, so the parent's kill reaches it; called in-process it gets a group of its own.
    in_child = os.getsid(0) == os.getpid()
    proc = subprocess.Popen(
        argv,
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=not in_child,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        # Killing the launcher alone leaves soffice.bin writing into the profile folder.
        _kill_converter(proc, in_child)
        raise ParseTimeout(
            f"{file_name} took longer than {timeout_s:g} s to convert and was stopped; "
            "try a smaller or simpler file, or export it as a PDF.",
            detail=f"LibreOffice ran past {timeout_s:g} s",
        ) from exc
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _kill_converter(proc: subprocess.Popen[str], in_child: bool) -> None:
    """Kill LibreOffice and everything it started, and wait (briefly) until they are gone."""
    me = os.getpid()
    group = os.getpgrp() if in_child else proc.pid
    if in_child:  # the child's own group: every member but the child itself
        for pid in _group_members(group, but=me):
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    else:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    proc.communicate()
    deadline = time.monotonic() + _KILL_WAIT_S
    while _group_members(group, but=me) and time.monotonic() < deadline:
        time.sleep(0.02)


def _group_members(group: int, *, but: int) -> list[int]:
    """Live (not zombie) processes of a process group, other than ``but``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == but:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp.
        if len(fields) > 2 and int(fields[2]) == group and fields[0] != b"Z":
            found.append(int(entry))
    return found


def _failed(file_name: str, fmt: Format, result: subprocess.CompletedProcess[str]) -> Exception:
    output = f"{result.stdout}\n{result.stderr}".strip()
    logger.warning(
        "LibreOffice failed on a %s (status %d): %s", fmt.suffix, result.returncode, output[-500:]
    )
    if any(marker in output.lower() for marker in _MEMORY_MARKERS):
        return MemoryError(f"LibreOffice ran out of memory: {output[-300:]}")
    return CorruptDocument(
        f"LibreOffice could not open {file_name}; it may be damaged or password-protected. "
        "Open and save it again (or export it as a PDF) and share it again.",
        detail=f"soffice exit {result.returncode}: {output[-300:]}",
    )
