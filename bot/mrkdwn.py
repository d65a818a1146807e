"""Make any text safe to post as Slack mrkdwn: no live mentions, no markup injection."""

from __future__ import annotations

import re

# After escaping, Slack's control sequences can only come from what folio writes itself.
# Zero-width joiners also break the bare words Slack might still auto-link.
_BROADCAST = re.compile(r"(?<![\w.+-])@(channel|here|everyone)\b", re.IGNORECASE)
_ZWSP = "\u200b"
# Slack control sequences: <!channel>, <!here|here>, <@U123>, <!subteam^S1|@team>, <#C1>.
_CONTROL = re.compile(r"<([!@#])([^<>]*)>")
_STRAY = re.compile(r"<(?=[!@#])")
# What Slack turns into a live link by itself in posted text: a scheme, "www.", or a bare
# domain such as evil.example.com. A zero-width space after the dot or colon keeps the
# words readable and dead.
_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|file|slack|tel)(:)")
_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z0-9-])\.(?=[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]\b)")


def mrkdwn_safe(text: str) -> str:
    """Escape ``&``, ``<``, ``>`` and defuse broadcast words so text can never ping anyone.

    ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<@U123>`` and ``<!subteam^S1>`` need
    their angle brackets to be live; escaped, they show as text. ``@channel`` typed
    plainly is not a mention in API posts, but a zero-width space keeps clients that
    re-link it from doing so.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + _ZWSP + m.group(1), escaped)


def defuse_urls(text: str) -> str:
    """Break every URL or domain in ``text`` so Slack shows it as words, never a link.

    For model output and document text: only folio's own source links may be live.
    """
    return _DOMAIN_DOT.sub("." + _ZWSP, _SCHEME.sub(lambda m: m.group(1) + _ZWSP + ":", text))


def defuse_mentions(text: str) -> str:
    """Turn Slack control sequences into the words they show: ``<!channel>`` -> ``@channel``.

    For text that may quote Slack markup (model output, passages of documents), so a reader
    sees ``@channel`` rather than an escaped ``<!channel>``; still pass it to ``mrkdwn_safe``.
    """
    defused = _CONTROL.sub(_inert, text)
    return _STRAY.sub("", defused)


def _inert(match: re.Match[str]) -> str:
    sigil, body = match.groups()
    label = body.split("|", 1)[1] if "|" in body else body.split("^", 1)[0]
    return label if label.startswith(("@", "#")) else ("@" if sigil == "!" else sigil) + label


def answer_safe(text: str) -> str:
    """Model output or quoted passages as safe mrkdwn: no mention, no link, no markup."""
    return mrkdwn_safe(defuse_urls(defuse_mentions(text)))


# "<" that may still open a control sequence: at the very end, or before ! @ # unclosed.
_OPEN_CONTROL = re.compile(r"<(?:[!@#][^<>]*)?$")


class SafeStream:
    """``answer_safe`` for text that arrives in pieces: what it returns, joined, equals
    ``answer_safe`` of the whole text.

    Every rewrite ``answer_safe`` makes stays within a run of non-blank characters except
    a control sequence such as ``<!subteam^S1|@team name>``; so text is released up to its
    last whitespace, and never from a ``<`` that may still become a control sequence.
    """

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        """Take more text; the safe mrkdwn that may be shown now (maybe empty)."""
        self._pending += piece
        return self._release(_cut(self._pending))

    def finish(self) -> str:
        """The rest, at the end of the text."""
        return self._release(len(self._pending))

    def _release(self, cut: int) -> str:
        segment, self._pending = self._pending[:cut], self._pending[cut:]
        return answer_safe(segment)


def _cut(text: str) -> int:
    """The last whitespace in ``text`` that no control sequence, open or closed, spans."""
    for cut in range(len(text) - 1, 0, -1):
        if text[cut] in " \n" and _OPEN_CONTROL.search(text, 0, cut) is None:
            return cut
    return 0
