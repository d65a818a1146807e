"""Make any text safe to post as Slack mrkdwn: no live mentions, no markup injection."""

from __future__ import annotations

import re

# After escaping, Slack's control sequences can only come from what folio writes itself.
# Zero-width joiners also break the bare words Slack might still auto-link.
_BROADCAST = re.compile(r"(?<![\w.+-])@(channel|here|everyone)\b", re.IGNORECASE)
_ZWSP = "\u200b"


def mrkdwn_safe(text: str) -> str:
    """Escape ``&``, ``<``, ``>`` and defuse broadcast words so text can never ping anyone.

    ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<@U123>`` and ``<!subteam^S1>`` need
    their angle brackets to be live; escaped, they show as text. ``@channel`` typed
    plainly is not a mention in API posts, but a zero-width space keeps clients that
    re-link it from doing so.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + _ZWSP + m.group(1), escaped)
