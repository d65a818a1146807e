"""The index's values: payload round trip and query legs."""

from __future__ import annotations

import pytest

from rag.index import HybridQuery, PointPayload
from rag.index.base import PUBLIC
from rag.index.filters import permission_filter
from rag.types import Audience, BBox
from tests.rag.index.builders import clip_vec, payload, sparse, text_vec

HERE = Audience(team_id="T1", channel_id="C1")


def test_a_payload_survives_a_round_trip_through_its_dict() -> None:
    original = payload("doc", private=True, kind="page", bboxes=(BBox(1.0, 2.0, 3.5, 4.0),))

    data = original.to_dict()

    assert data["bboxes"] == [[1.0, 2.0, 3.5, 4.0]]
    assert PointPayload.from_dict(data) == original


def test_visible_in_restates_channel_privacy() -> None:
    assert payload("doc", channel_id="C9", private=True).to_dict()["visible_in"] == "C9"
    assert payload("doc", channel_id="C9").to_dict()["visible_in"] == PUBLIC


def test_an_unknown_kind_is_rejected() -> None:
    data = payload("doc").to_dict() | {"kind": "table"}

    with pytest.raises(ValueError, match="unknown point kind"):
        PointPayload.from_dict(data)


def test_legs_skip_missing_vectors_and_zero_weights() -> None:
    query = HybridQuery(
        HERE,
        clip=(clip_vec((0, 1.0)), clip_vec((1, 1.0))),
        text=text_vec((0, 1.0)),
        bm25=sparse(),
        clip_weight=2.0,
        text_weight=0.0,
    )

    assert [leg.using for leg in query.legs()] == ["clip", "clip"]
    assert query.weights() == [2.0, 2.0]


def test_negative_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        HybridQuery(HERE, text=text_vec((0, 1.0)), bm25_weight=-1.0)


def test_the_permission_filter_names_the_team_and_channel() -> None:
    selection = permission_filter(Audience(team_id="T7", channel_id="C7"))

    assert repr(selection) == (
        "AllOf(conditions=(Match(key='team_id', value='T7'), AnyOf(conditions=("
        f"Match(key='visible_in', value='{PUBLIC}'), Match(key='visible_in', value='C7')))))"
    )
