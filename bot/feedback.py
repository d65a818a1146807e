"""Feedback in Block Kit: Slack's 👍 / 👎 buttons under an answer, the 👎 reason modal, and
the week of answers with their votes that App Home shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks import Block, clip, header, line_sections, section
from bot.mrkdwn import defuse_urls, mrkdwn_safe
from rag import AnswerFeedback

FEEDBACK_ACTION = "folio_feedback"
FEEDBACK_BLOCK_ID = "folio_feedback"
FEEDBACK_REASON = "folio_feedback_reason"  # the 👎 modal's callback_id
REASON_BLOCK, REASON_INPUT = "reason", "reason_text"
REASON_LIMIT = 1000


def feedback_block(answer_id: str) -> Block:
    """Slack's 👍 / 👎 feedback buttons; each value is ``up:`` or ``down:`` and ``answer_id``."""

    def button(vote: str, emoji: str, label: str) -> Block:
        return {
            "text": {"type": "plain_text", "text": emoji, "emoji": True},
            "value": f"{vote}:{answer_id}",
            "accessibility_label": label,
        }

    return {
        "type": "context_actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": button("up", "👍", "This answer helped"),
                "negative_button": button("down", "👎", "This answer did not help"),
            }
        ],
    }


def feedback_vote(value: str) -> tuple[bool, str] | None:
    """(helpful, answer id) from a feedback button's value; None when it is not one."""
    vote, _, answer_id = value.partition(":")
    if vote not in ("up", "down") or not answer_id:
        return None
    return vote == "up", answer_id


def reason_modal(answer_id: str) -> dict[str, Any]:
    """The small modal 👎 opens: an optional sentence on what was wrong."""
    return {
        "type": "modal",
        "callback_id": FEEDBACK_REASON,
        "private_metadata": answer_id,
        "title": {"type": "plain_text", "text": "What was wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What should the answer have said?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": REASON_LIMIT,
                },
            }
        ],
    }


def feedback_line(feedback: AnswerFeedback) -> str:
    """``• *Mon 30 Nov* “question” — 👍 2 · 👎 1``, each 👎 reason quoted below it."""
    question = mrkdwn_safe(defuse_urls(clip(feedback.question, 200)))
    line = (
        f"• *{feedback.created_at:%a %d %b}* “{question}” — 👍 {feedback.up} · 👎 {feedback.down}"
    )
    reasons = [f">{mrkdwn_safe(defuse_urls(clip(r, 300)))}" for r in feedback.reasons[:5]]
    return "\n".join([line, *reasons])


def week_blocks(week: Sequence[AnswerFeedback]) -> list[Block]:
    """App Home's section: the person's answers of the past week, with votes and reasons."""
    lines = [feedback_line(feedback) for feedback in week]
    return [
        {"type": "divider"},
        header("Your answers this week"),
        *(
            line_sections(lines, max_blocks=20, max_chars=12_000)
            or [section("No answers this week. 👍 / 👎 under an answer shows up here.")]
        ),
    ]
