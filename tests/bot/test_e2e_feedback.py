"""Native feedback over signed HTTP: 👍/👎 buttons, the 👎 reason modal, App Home, and
`folio feedback export` read back by `folio eval`'s loader."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from bot.feedback import FEEDBACK_ACTION, FEEDBACK_REASON, REASON_BLOCK, REASON_INPUT
from rag._evaluate import load_questions
from rag.cli import run_cli
from tests.bot.harness import DOCS_CHANNEL, Bot, pdf_bytes
from tests.fakes.services import use_env
from tests.fakes.slack import (
    CHANNEL_ID,
    USER_ID,
    Recorded,
    app_home_opened_event,
    app_mention_event,
    block_actions_payload,
    view_submission_payload,
)

pytestmark = pytest.mark.e2e

MakeBot = Callable[..., AbstractAsyncContextManager[Bot]]
# Page 1 opens with more than the 30 words every passage carries as its document's
# opening, so page 2's passages do not also read "payload size" (no near tie).
REPORT = [
    "Quarterly report of the platform team for the third quarter, prepared by the "
    "finance office for the review meeting in October, with figures from every region "
    "and notes from each department head on the work of the past three months. "
    "The payload size of the report is 42 kilobytes, measured in March.",
    "Revenue grew eleven percent in the third quarter, driven by subscriptions.",
]
BOB = "U0BOB"
REASON = "It quoted March; the question was about the third quarter."


async def _asked(bot: Bot, text: str) -> tuple[dict[str, Any], Recorded]:
    mention = app_mention_event(text)
    await bot.event(mention)
    await bot.done(CHANNEL_ID, mention["ts"])
    [answer] = bot.answers(CHANNEL_ID, mention["ts"])
    return mention, answer


def _buttons(answer: Recorded) -> dict[str, Any]:
    [block] = [b for b in answer.params["blocks"] if b["type"] == "context_actions"]
    [element] = block["elements"]
    assert element["type"] == "feedback_buttons"
    return dict(element)


async def _vote(bot: Bot, answer: Recorded, mention: dict[str, Any], side: str, user: str) -> None:
    buttons = _buttons(answer)
    await bot.click(
        block_actions_payload(
            buttons["action_id"],
            buttons[side]["value"],
            user=user,
            message_ts=str(answer.response["ts"]) if answer.response else None,
            thread_ts=mention["ts"],
            action_type="feedback_buttons",
        )
    )


async def test_votes_the_reason_modal_app_home_and_the_export_that_eval_reads(
    make_bot: MakeBot, tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
):
    async with make_bot("http") as bot:
        bot.fake.add_user(BOB, name="bob")
        event, _ = await bot.share("q3.pdf", pdf_bytes(REPORT), "application/pdf")
        await bot.indexed(DOCS_CHANNEL, event["ts"])
        liked, liked_answer = await _asked(bot, "what is the payload size?")
        disliked, disliked_answer = await _asked(bot, "how much did revenue grow?")
        assert _buttons(liked_answer)["action_id"] == FEEDBACK_ACTION

        await _vote(bot, liked_answer, liked, "positive_button", USER_ID)
        thanks = await bot.fake.wait_for("chat.postEphemeral")
        await _vote(bot, disliked_answer, disliked, "negative_button", BOB)
        opened = await bot.fake.wait_for("views.open")
        modal = opened.response["view"] if opened.response else {}
        values = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": REASON}}}
        await bot.click(view_submission_payload(modal, values, user=BOB))
        await bot.inflight.idle(30)
        await bot.event(app_home_opened_event(user=USER_ID))
        home = json.dumps(
            (await bot.fake.wait_for("views.publish")).params["view"], ensure_ascii=False
        )
        score = await bot.services.answers.feedback_score(_id(disliked_answer))

    assert "Thanks" in thanks.params["text"] and thanks.params["user"] == USER_ID
    assert opened.params["view"]["callback_id"] == FEEDBACK_REASON
    assert opened.params["view"]["private_metadata"] == _id(disliked_answer)
    assert score == -1
    assert "Your answers this week" in home
    assert "what is the payload size?” — 👍 1 · 👎 0" in home
    assert "how much did revenue grow?” — 👍 0 · 👎 1" in home
    assert REASON in home

    out = tmp_path / "voted.jsonl"
    env = {
        "FOLIO_DATA_DIR": str(bot.settings.data_dir),
        "FOLIO_CLIP_MODEL": str(tiny_clip_dir),
        "FOLIO_TEXT_MODEL": str(minilm_dir),
    }
    with pytest.MonkeyPatch.context() as patch:
        use_env(patch, env, tmp_path)
        code, err = await asyncio.to_thread(_folio, "feedback", "export", "--out", str(out))

    assert code == 0, err
    assert "Wrote 2 voted questions" in err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["question"], r["vote"], r["doc"]) for r in rows] == [
        ("what is the payload size?", "up", "q3.pdf"),
        ("how much did revenue grow?", "down", "q3.pdf"),
    ]
    assert rows[1]["reasons"] == [REASON] and rows[1]["down"] == 1
    assert all(set(r) >= {"id", "question", "answer", "doc", "pages", "evidence"} for r in rows)
    questions = load_questions(out)
    assert [q.question for q in questions] == [r["question"] for r in rows]
    assert all(q.pages and q.doc == "q3.pdf" for q in questions)


def _id(answer: Recorded) -> str:
    return str(_buttons(answer)["positive_button"]["value"]).split(":", 1)[1]


def _folio(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = run_cli(list(args))
    return code, err.getvalue()
