"""The fake Slack's Web API methods: each takes the recorded call and returns Slack's JSON."""

from __future__ import annotations

import mimetypes
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fakes.slack_limits import (
    MAX_HOME_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_STREAM_TEXT,
    block_error,
)
from tests.fakes.slack_payloads import TEAM_DOMAIN, next_ts

if TYPE_CHECKING:
    from tests.fakes.slack import FakeSlack, Recorded

Json = dict[str, Any]
Handler = Callable[["FakeSlack", Json], Json]


def _error(error: str, **extra: Any) -> Json:
    return {"ok": False, "error": error, **extra}


def _auth_test(fake: FakeSlack, p: Json) -> Json:
    return {
        "ok": True,
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": "Folio Test",
        "user": "folio",
        "team_id": fake.team_id,
        "user_id": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "is_enterprise_install": False,
    }


def _message_error(p: Json) -> str | None:
    if not p.get("channel"):
        return "channel_not_found"
    text, blocks = p.get("text"), p.get("blocks")
    if not text and not blocks:
        return "no_text"
    if text and len(str(text)) > MAX_MESSAGE_TEXT:
        return "msg_too_long"
    return block_error(blocks) if blocks is not None else None


def _post_message(fake: FakeSlack, p: Json) -> Json:
    error = _message_error(p)
    if error:
        return _error(error)
    ts = next_ts()
    message: Json = {
        "type": "message",
        "user": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "app_id": fake.app_id,
        "team": fake.team_id,
        "text": p.get("text") or "",
        "ts": ts,
    }
    if p.get("blocks") is not None:
        message["blocks"] = p["blocks"]
    if p.get("thread_ts"):
        message["thread_ts"] = str(p["thread_ts"])
        fake.statuses.pop((str(p["channel"]), str(p["thread_ts"])), None)  # a reply clears it
    fake.messages.append({"channel": p["channel"], **message})
    return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}


def _stream_text(p: Json) -> str | None:
    """The markdown a stream call carries: ``markdown_text`` or ``markdown_text`` chunks."""
    if p.get("markdown_text") is not None:
        return str(p["markdown_text"])
    chunks = p.get("chunks")
    if chunks is None:
        return ""
    if not isinstance(chunks, list) or any(not isinstance(c, dict) for c in chunks):
        return None
    return "".join(str(c.get("text") or "") for c in chunks if c.get("type") == "markdown_text")


def _start_stream(fake: FakeSlack, p: Json) -> Json:
    if not p.get("channel") or not p.get("thread_ts"):
        return _error("invalid_arguments")
    text = _stream_text(p)
    if text is None or len(text) > MAX_STREAM_TEXT:
        return _error("invalid_arguments")
    channel, thread_ts = str(p["channel"]), str(p["thread_ts"])
    ts = next_ts()
    fake.statuses.pop((channel, thread_ts), None)
    fake.messages.append(
        {
            "channel": channel,
            "type": "message",
            "user": fake.bot_user_id,
            "bot_id": fake.bot_id,
            "app_id": fake.app_id,
            "team": fake.team_id,
            "text": text,
            "ts": ts,
            "thread_ts": thread_ts,
            "streaming": True,
        }
    )
    return {"ok": True, "channel": channel, "ts": ts}


def _streaming(fake: FakeSlack, p: Json) -> Json | str:
    """The message a stream call continues, or the error Slack gives."""
    message = _find_message(fake, str(p.get("channel")), str(p.get("ts")))
    if message is None:
        return "message_not_found"
    if not message.get("streaming"):
        return "message_not_in_streaming_state"
    text = _stream_text(p)
    if text is None or len(text) > MAX_STREAM_TEXT:
        return "invalid_arguments"
    message["text"] += text
    return message


def _append_stream(fake: FakeSlack, p: Json) -> Json:
    message = _streaming(fake, p)
    if isinstance(message, str):
        return _error(message)
    return {"ok": True, "channel": p["channel"], "ts": p["ts"]}


def _stop_stream(fake: FakeSlack, p: Json) -> Json:
    blocks = p.get("blocks")
    error = block_error(blocks) if blocks is not None else None
    if error:
        return _error(error)
    message = _streaming(fake, p)
    if isinstance(message, str):
        return _error(message)
    message["streaming"] = False
    if blocks is not None:
        message["blocks"] = blocks
    body = {k: v for k, v in message.items() if k not in ("channel", "streaming")}
    return {"ok": True, "channel": p["channel"], "ts": p["ts"], "message": body}


def _find_message(fake: FakeSlack, channel: str, ts: str) -> Json | None:
    return next(
        (
            m
            for m in fake.messages
            if m["channel"] == channel and m["ts"] == ts and not m.get("deleted")
        ),
        None,
    )


def _update(fake: FakeSlack, p: Json) -> Json:
    message = _find_message(fake, str(p.get("channel")), str(p.get("ts")))
    if message is None:
        return _error("message_not_found")
    error = block_error(p["blocks"]) if p.get("blocks") is not None else None
    if error:
        return _error(error)
    message.update({k: p[k] for k in ("text", "blocks") if k in p})
    message["edited"] = {"user": fake.bot_user_id, "ts": next_ts()}
    body = {k: v for k, v in message.items() if k != "channel"}
    return {
        "ok": True,
        "channel": p["channel"],
        "ts": p["ts"],
        "text": message["text"],
        "message": body,
    }


def _delete(fake: FakeSlack, p: Json) -> Json:
    message = _find_message(fake, str(p.get("channel")), str(p.get("ts")))
    if message is None:
        return _error("message_not_found")
    message["deleted"] = True
    return {"ok": True, "channel": p["channel"], "ts": p["ts"]}


def _post_ephemeral(fake: FakeSlack, p: Json) -> Json:
    if not p.get("user"):
        return _error("user_not_in_channel")
    error = _message_error(p)
    return _error(error) if error else {"ok": True, "message_ts": next_ts()}


def _permalink(fake: FakeSlack, p: Json) -> Json:
    channel, ts = p.get("channel"), str(p.get("message_ts", ""))
    if not channel or not ts:
        return _error("message_not_found")
    link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    return {"ok": True, "channel": channel, "permalink": link}


def _reaction_key(p: Json) -> tuple[str, str]:
    return str(p.get("channel")), str(p.get("timestamp"))


def _reactions_add(fake: FakeSlack, p: Json) -> Json:
    names = fake.reactions.setdefault(_reaction_key(p), [])
    if p.get("name") in names:
        return _error("already_reacted")
    names.append(str(p.get("name")))
    return {"ok": True}


def _reactions_remove(fake: FakeSlack, p: Json) -> Json:
    names = fake.reactions.get(_reaction_key(p), [])
    if p.get("name") not in names:
        return _error("no_reaction")
    names.remove(str(p.get("name")))
    return {"ok": True}


def _files_info(fake: FakeSlack, p: Json) -> Json:
    stored = fake.files.get(str(p.get("file")))
    if stored is None:
        return _error("file_not_found")
    return {
        "ok": True,
        "file": stored.info,
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


def _files_list(fake: FakeSlack, p: Json) -> Json:
    """files.list as Slack pages it: newest first, ``count`` per ``page``, with ``paging``."""
    try:
        count = max(1, min(int(p.get("count") or 100), 1000))
        page = max(1, int(p.get("page") or 1))
    except ValueError:
        return _error("invalid_arguments")
    channel = str(p.get("channel") or "")
    listed = [
        (order, stored.info)
        for order, stored in enumerate(fake.files.values())
        if not channel or channel in _shared_in(stored.info)
    ]
    listed.sort(key=lambda item: (int(item[1]["created"]), item[0]), reverse=True)
    files = [info for _, info in listed]
    pages = max(1, -(-len(files) // count))
    return {
        "ok": True,
        "files": files[(page - 1) * count : page * count],
        "paging": {"count": count, "total": len(files), "page": page, "pages": pages},
    }


def _shared_in(info: Json) -> list[str]:
    return [*info.get("channels", ()), *info.get("groups", ()), *info.get("ims", ())]


def _get_upload_url(fake: FakeSlack, p: Json) -> Json:
    if not p.get("filename") or not str(p.get("length", "")).isdigit():
        return _error("invalid_arguments")
    file_id = fake.new_id("F")
    upload_id = uuid.uuid4().hex
    fake.pending_uploads[upload_id] = {
        "file_id": file_id,
        "filename": p["filename"],
        "length": int(p["length"]),
        "alt_txt": p.get("alt_txt"),
        "data": None,
    }
    return {"ok": True, "upload_url": f"{fake.url}/upload/v1/{upload_id}", "file_id": file_id}


def _complete_upload(fake: FakeSlack, p: Json) -> Json:
    requested = p.get("files")
    if not isinstance(requested, list) or not requested:
        return _error("invalid_arguments")
    pending = {u["file_id"]: u for u in fake.pending_uploads.values()}
    done: list[Json] = []
    for item in requested:
        upload = pending.get(item.get("id"))
        if upload is None or upload["data"] is None:
            return _error("file_not_found")
        done.append({**item, "name": upload["filename"], "data": upload["data"]})
    channel = p.get("channel_id") or None
    record = {
        "channel_id": channel,
        "channels": p.get("channels"),
        "thread_ts": p.get("thread_ts") or None,
        "initial_comment": p.get("initial_comment"),
        "files": done,
    }
    fake.uploads.append(record)
    return {"ok": True, "files": [_register_upload(fake, f, channel) for f in done]}


def _register_upload(fake: FakeSlack, item: Json, channel: str | None) -> Json:
    name = str(item["name"])
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    info = fake.add_file(
        str(item["id"]),
        name,
        item["data"],
        mimetype,
        user=fake.bot_user_id,
        title=item.get("title") or name,
        channels=(channel,) if channel else (),
    )
    return info


def _files_delete(fake: FakeSlack, p: Json) -> Json:
    file_id = str(p.get("file"))
    info = fake.files.get(file_id)
    if info is None:
        return _error("file_not_found")
    if info.info.get("user") != fake.bot_user_id:
        return _error("cant_delete_file")  # a bot token deletes only the bot's own files
    del fake.files[file_id]
    for upload in fake.uploads:
        upload["files"] = [f for f in upload["files"] if f.get("id") != file_id]
    return {"ok": True}


def _conversations_info(fake: FakeSlack, p: Json) -> Json:
    info = fake.channels.get(str(p.get("channel")))
    return {"ok": True, "channel": info} if info else _error("channel_not_found")


def _users_info(fake: FakeSlack, p: Json) -> Json:
    info = fake.users.get(str(p.get("user")))
    return {"ok": True, "user": info} if info else _error("user_not_found")


def _views_publish(fake: FakeSlack, p: Json) -> Json:
    view = p.get("view")
    if not p.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
        return _error("invalid_arguments")
    error = block_error(view.get("blocks", []), max_blocks=MAX_HOME_BLOCKS)
    if error:
        return _error("invalid_arguments", response_metadata={"messages": [f"[ERROR] {error}"]})
    published = {
        **view,
        "id": fake.new_id("V"),
        "team_id": fake.team_id,
        "app_id": fake.app_id,
        "bot_id": fake.bot_id,
        "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
    }
    return {"ok": True, "view": published}


def _views_open(fake: FakeSlack, p: Json) -> Json:
    view = p.get("view")
    if not p.get("trigger_id"):
        return _error("invalid_trigger_id")
    if not isinstance(view, dict) or view.get("type") != "modal" or not view.get("title"):
        return _error("invalid_arguments")
    error = block_error(view.get("blocks", []), max_blocks=MAX_HOME_BLOCKS)
    if error:
        return _error("invalid_arguments", response_metadata={"messages": [f"[ERROR] {error}"]})
    opened = {
        **view,
        "id": fake.new_id("V"),
        "team_id": fake.team_id,
        "app_id": fake.app_id,
        "bot_id": fake.bot_id,
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
    }
    fake.views.append(opened)
    return {"ok": True, "view": opened}


def _set_status(fake: FakeSlack, p: Json) -> Json:
    if not p.get("channel_id") or not p.get("thread_ts") or "status" not in p:
        return _error("invalid_arguments")
    key = (str(p["channel_id"]), str(p["thread_ts"]))
    if p["status"]:
        fake.statuses[key] = {"status": p["status"], "loading_messages": p.get("loading_messages")}
    else:
        fake.statuses.pop(key, None)
    return {"ok": True}


def _set_suggested_prompts(fake: FakeSlack, p: Json) -> Json:
    """Up to four prompts, each a title and the message it sends (Slack's own limit)."""
    prompts = p.get("prompts")
    if not p.get("channel_id") or not isinstance(prompts, list) or not prompts:
        return _error("invalid_arguments")
    if len(prompts) > 4:
        return _error("invalid_arguments", response_metadata={"messages": ["too many prompts"]})
    for prompt in prompts:
        if not isinstance(prompt, dict) or not prompt.get("title") or not prompt.get("message"):
            return _error("invalid_arguments")
    return {"ok": True}


def _set_title(fake: FakeSlack, p: Json) -> Json:
    if not p.get("channel_id") or not p.get("thread_ts") or not p.get("title"):
        return _error("invalid_arguments")
    return {"ok": True}


def _conversations_replies(fake: FakeSlack, p: Json) -> Json:
    """A thread, parent first, oldest to newest, ``limit`` per page (cursor: an offset)."""
    channel, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
    if channel not in fake.channels:
        return _error("channel_not_found")
    thread = [
        {k: v for k, v in m.items() if k != "channel"}
        for m in fake.messages
        if m["channel"] == channel and ts in (m["ts"], m.get("thread_ts")) and not m.get("deleted")
    ]
    if not thread:
        return _error("thread_not_found")
    thread.sort(key=lambda m: float(m["ts"]))
    limit = max(1, min(int(p.get("limit") or 1000), 1000))
    start = int(p.get("cursor") or 0)
    page = thread[start : start + limit]
    more = start + limit < len(thread)
    cursor = str(start + limit) if more else ""
    return {
        "ok": True,
        "messages": page,
        "has_more": more,
        "response_metadata": {"next_cursor": cursor},
    }


def _connections_open(fake: FakeSlack, p: Json) -> Json:
    ticket = uuid.uuid4()
    url = f"ws://127.0.0.1:{fake.port}/link/?ticket={ticket}&app_id={fake.app_id}"
    return {"ok": True, "url": url}


METHODS: dict[str, Handler] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.delete": _delete,
    "chat.postEphemeral": _post_ephemeral,
    "chat.startStream": _start_stream,
    "chat.appendStream": _append_stream,
    "chat.stopStream": _stop_stream,
    "chat.getPermalink": _permalink,
    "reactions.add": _reactions_add,
    "reactions.remove": _reactions_remove,
    "files.info": _files_info,
    "files.list": _files_list,
    "files.getUploadURLExternal": _get_upload_url,
    "files.completeUploadExternal": _complete_upload,
    "files.delete": _files_delete,
    "conversations.info": _conversations_info,
    "users.info": _users_info,
    "views.publish": _views_publish,
    "views.open": _views_open,
    "assistant.threads.setStatus": _set_status,
    "assistant.threads.setSuggestedPrompts": _set_suggested_prompts,
    "assistant.threads.setTitle": _set_title,
    "conversations.replies": _conversations_replies,
    "apps.connections.open": _connections_open,
}


def dispatch(fake: FakeSlack, method: str, call: Recorded) -> Json:
    """Answer one Web API call the way Slack would."""
    handler = METHODS.get(method)
    if handler is None:
        return _error("unknown_method")
    error = fake.auth_error(method, call.token) or fake.refusal(method)
    if error:
        return _error(error)
    return handler(fake, call.params)
