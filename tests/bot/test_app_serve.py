"""`folio serve` / `python -m bot` and `folio worker` as a whole: start, work, stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_bolt.request.internals import parse_body

from bot.cli import serve, work
from bot.console import main
from bot.startup import MISSING_TOKENS
from rag import ConfigError, JobSpec, Settings, open_services
from rag.embed._shared import MODEL_NICE, ModelGate
from tests.bot.harness import (
    DOCS_CHANNEL,
    SECRET,
    bot_settings,
    pdf_bytes,
    text_of,
)
from tests.fakes.net import free_port, until_ok
from tests.fakes.services import use_env
from tests.fakes.slack import (
    CHANNEL_ID,
    FakeSlack,
    app_mention_event,
    event_callback,
    event_request,
    file_share_message_event,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
REPORT = ["The payload size of the report is 42 kilobytes, measured in March."]


async def _post(session: aiohttp.ClientSession, base: str, event: dict[str, Any]) -> int:
    raw, headers = event_request(event_callback(event), SECRET)
    async with session.post(base + "/slack/events", data=raw, headers=headers) as reply:
        return reply.status


async def test_serve_over_http_indexes_answers_and_stops_cleanly_on_sigterm(
    fake_slack: FakeSlack, tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
):
    port = free_port()
    settings = bot_settings(fake_slack, tmp_path, tiny_clip_dir, minilm_dir, PORT=str(port))
    served = asyncio.create_task(serve(settings))
    base = f"http://127.0.0.1:{port}"
    await until_ok(base + "/healthz", timeout_s=20)
    info = fake_slack.add_file("F0SERVE", "q3.pdf", pdf_bytes(REPORT), "application/pdf")
    share = file_share_message_event([info], channel=DOCS_CHANNEL)
    mention = app_mention_event("what is the payload size?")

    async with aiohttp.ClientSession() as session:
        assert await _post(session, base, share) == 200
        await fake_slack.wait_for(
            "chat.postMessage", lambda c: c.params.get("thread_ts") == share["ts"], 30
        )
        assert await _post(session, base, mention) == 200
    await fake_slack.wait_for(
        "assistant.threads.setStatus", lambda c: c.params["thread_ts"] == mention["ts"]
    )
    # A model's thread started while serve runs (and its OpenMP team) runs behind the loop.
    gate = ModelGate()  # held: an unreferenced gate's thread ends
    started = await gate.arun(threading.get_native_id)
    assert os.getpriority(os.PRIO_PROCESS, started) == min(19, os.nice(0) + MODEL_NICE)
    os.kill(os.getpid(), signal.SIGTERM)  # the answer in progress is finished first

    assert await asyncio.wait_for(served, 30) == 0
    gate = ModelGate()
    started = await gate.arun(threading.get_native_id)  # not once serve is done
    assert os.getpriority(os.PRIO_PROCESS, started) == os.nice(0)
    [answer] = [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("thread_ts") == mention["ts"] and c.params.get("blocks")
    ]
    assert "42 kilobytes" in text_of(answer)
    assert fake_slack.uploads_in(CHANNEL_ID, mention["ts"])


async def test_serve_in_socket_mode_indexes_with_its_in_process_worker_and_stops(
    fake_slack: FakeSlack, tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
):
    port = free_port()
    settings = bot_settings(
        fake_slack, tmp_path, tiny_clip_dir, minilm_dir, socket=True, PORT=str(port)
    )
    stop = asyncio.Event()
    served = asyncio.create_task(serve(settings, stop=stop))
    await until_ok(
        f"http://127.0.0.1:{port}/healthz", timeout_s=20
    )  # probes on $PORT in Socket Mode too
    info = fake_slack.add_file("F0SOCK", "q3.pdf", pdf_bytes(REPORT), "application/pdf")
    share = file_share_message_event([info], channel=DOCS_CHANNEL)

    envelope = await fake_slack.send_envelope("events_api", event_callback(share), timeout=60)
    await fake_slack.wait_for_ack(envelope)
    line = await fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == share["ts"], 30
    )
    stop.set()

    assert await asyncio.wait_for(served, 30) == 0
    assert line.params["text"] == "Indexed q3.pdf: 1 page, 0 figures"


async def test_serve_reads_the_files_already_in_its_configured_channels_once(
    fake_slack: FakeSlack, tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
):
    settings = bot_settings(fake_slack, tmp_path, tiny_clip_dir, minilm_dir, socket=True)
    fake_slack.add_file(
        "F0OLD", "q3.pdf", pdf_bytes(REPORT), "application/pdf", channels=(DOCS_CHANNEL,)
    )

    for start in (1, 2):  # the second start finds nothing new
        stop = asyncio.Event()
        served = asyncio.create_task(serve(settings, stop=stop))
        await fake_slack.wait_for(
            "chat.update", lambda c: "Indexed 1 file already here" in str(c.params["text"]), 60
        )
        await fake_slack.until(
            lambda n=start: True if len(fake_slack.calls("files.list")) == n else None,
            60,
            lambda: "serve did not list the channel's files",
        )
        await asyncio.sleep(0.5)  # time to post, had it found anything new
        stop.set()
        assert await asyncio.wait_for(served, 30) == 0

    progress = [c for c in fake_slack.calls("chat.postMessage") if "already here" in text_of(c)]
    assert len(progress) == 1 and progress[0].params["thread_ts"]
    assert len(fake_slack.calls("files.list")) == 2
    [update] = fake_slack.calls("chat.update")
    assert update.params["text"] == "Indexed 1 file already here: 1 done, 0 failed"


async def test_folio_worker_indexes_queued_jobs_and_reports_in_the_thread(
    fake_slack: FakeSlack, tmp_path: Path, tiny_clip_dir: Path, minilm_dir: Path
):
    settings = bot_settings(fake_slack, tmp_path, tiny_clip_dir, minilm_dir)
    fake_slack.add_file("F0WORK", "q3.pdf", pdf_bytes(REPORT), "application/pdf")
    # The embedded index's owner (as in `folio serve`): the worker writes through the outbox.
    async with open_services(settings) as owner:
        await owner.jobs.enqueue(
            JobSpec(
                team_id=fake_slack.team_id,
                channel_id=DOCS_CHANNEL,
                channel_private=False,
                file_name="q3.pdf",
                slack_file_id="F0WORK",
                user_id="U0ALICE",
                message_ts="1700000000.000100",
            )
        )
        stop = asyncio.Event()
        applier = asyncio.create_task(owner.folio.fleet.apply_forever(stop))
        worker = asyncio.create_task(work(settings, stop=stop))

        line = await fake_slack.wait_for(
            "chat.postMessage", lambda c: c.params.get("thread_ts") == "1700000000.000100", 60
        )
        points = await owner.index.count(team_id=fake_slack.team_id)  # searchable when told
        stop.set()

        assert await asyncio.wait_for(worker, 30) == 0
        await applier
    assert line.params["text"] == "Indexed q3.pdf: 1 page, 0 figures"
    assert fake_slack.reactions[(DOCS_CHANNEL, "1700000000.000100")] == ["white_check_mark"]
    assert points == 3  # the page's passage, its render and the document's own point


async def test_serve_without_tokens_stops_before_opening_anything(tmp_path: Path):
    settings = Settings.from_env({"FOLIO_DATA_DIR": str(tmp_path / "data")})

    with pytest.raises(ConfigError) as caught:
        await serve(settings)

    assert caught.value.detail == MISSING_TOKENS
    assert not (tmp_path / "data").exists()


def test_python_m_bot_says_what_to_set_when_the_tokens_are_missing(tmp_path: Path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}

    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True
    )

    assert done.returncode == 2
    assert "folio needs a Slack app before it can start" in done.stderr
    assert "run `make demo`" in done.stderr


def test_folio_serve_without_tokens_exits_2_with_the_paragraph_on_setting_up_slack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    use_env(monkeypatch, {"FOLIO_DATA_DIR": str(tmp_path / "data")}, tmp_path)

    code = main(["serve"])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("folio: folio needs a Slack app before it can start.")
    assert "SLACK_BOT_TOKEN" in err and "manifest.yml" in err
    assert err.count("\n") == 1  # one paragraph
    assert "Traceback" not in err


def test_folio_lists_the_slack_commands_beside_rags(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["--help"])

    out = capsys.readouterr().out
    for command in ("serve", "worker", "ingest", "ask", "doctor"):
        assert command in out


def test_bolt_alone_drops_a_slash_command_whose_text_says_payload():
    # Why bot.server re-parses forms: without it this command would never reach folio.
    raw = "command=%2Ffolio&text=ask+what+is+the+payload+size&user_id=U1"

    assert parse_body(raw, "application/x-www-form-urlencoded") == {}
