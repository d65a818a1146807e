"""LateFiles: a mention without files gets those its message event carried, whichever came
first; without a wait (or with no message event) it goes on with none."""

from __future__ import annotations

import asyncio

from bot.late_files import LateFiles

PICTURE = {"id": "F1", "name": "chart.png", "mimetype": "image/png"}


async def test_files_that_came_first_are_handed_over_at_once():
    late = LateFiles(wait_s=0)
    late.arrived("C1", "1.000001", [PICTURE])

    assert await late.wait("C1", "1.000001") == (PICTURE,)
    assert await late.wait("C1", "1.000002") == ()


async def test_a_waiting_mention_wakes_when_its_message_event_arrives():
    late = LateFiles(wait_s=60)
    waiting = asyncio.create_task(late.wait("C1", "1.000001"))
    await asyncio.sleep(0)  # the mention is now waiting

    late.arrived("C2", "1.000001", [PICTURE])  # another channel's message: not this one
    late.arrived("C1", "1.000001", [])  # the message came without files after all
    found = await asyncio.wait_for(waiting, 5)

    assert found == ()


async def test_only_the_newest_message_events_are_remembered():
    late = LateFiles(wait_s=0, keep=2)
    for n in range(3):
        late.arrived("C1", f"1.00000{n}", [PICTURE])

    assert await late.wait("C1", "1.000000") == ()
    assert await late.wait("C1", "1.000002") == (PICTURE,)
