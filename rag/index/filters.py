"""Engine-neutral payload filters, and the one permission rule every query goes through.

Each adapter translates these small values into its engine's filter type, so the rule
of who may see what is written once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.index.base import PUBLIC
from rag.types import Audience


@dataclass(frozen=True)
class Match:
    """A payload field equals a value."""

    key: str
    value: str


@dataclass(frozen=True)
class AnyOf:
    """At least one of the conditions holds."""

    conditions: tuple[Match, ...]


@dataclass(frozen=True)
class AllOf:
    """Every condition holds."""

    conditions: tuple[Match | AnyOf, ...]


def permission_filter(audience: Audience) -> AllOf:
    """Points the audience may see.

    team_id == audience.team_id AND (channel_private == false OR channel_id == the
    audience's channel): a public channel's documents answer anywhere in the workspace,
    a private channel's only in that channel. ``visible_in`` holds exactly that disjunction
    per point (PUBLIC, or the private channel's id); see ``rag.index.base.PUBLIC``.
    An audience with ``own_channel_only`` (a channel shared outside, a guest) sees only
    the points of documents shared in its own channel.
    """
    if audience.own_channel_only:
        return AllOf((Match("team_id", audience.team_id), Match("channel_id", audience.channel_id)))
    return AllOf(
        (
            Match("team_id", audience.team_id),
            AnyOf((Match("visible_in", PUBLIC), Match("visible_in", audience.channel_id))),
        )
    )


def query_filter(audience: Audience, kinds: Sequence[str]) -> AllOf:
    """Points the audience may see, of one of ``kinds`` (see ``permission_filter``)."""
    allowed = permission_filter(audience)
    return AllOf((*allowed.conditions, AnyOf(tuple(Match("kind", kind) for kind in kinds))))


def channel_filter(team_id: str, channel_id: str) -> AllOf:
    """Every point of the documents shared in one channel."""
    return AllOf((Match("team_id", team_id), Match("channel_id", channel_id)))


def visibility_payload(channel_id: str, private: bool) -> dict[str, object]:
    """The payload fields that carry a point's visibility (see ``permission_filter``)."""
    return {"channel_private": private, "visible_in": channel_id if private else PUBLIC}


def document_filter(document_id: str) -> AllOf:
    """Every point of one document."""
    return AllOf((Match("document_id", document_id),))


def count_filter(*, document_id: str | None, team_id: str | None) -> AllOf | None:
    """Points of one document and/or one team; None counts everything."""
    conditions: list[Match | AnyOf] = []
    if document_id is not None:
        conditions.append(Match("document_id", document_id))
    if team_id is not None:
        conditions.append(Match("team_id", team_id))
    return AllOf(tuple(conditions)) if conditions else None
