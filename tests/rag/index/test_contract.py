"""The VectorIndex contract; every test runs on Qdrant Edge and on qdrant-client (:memory:)."""

from __future__ import annotations

import uuid
from typing import Literal

import numpy as np
import pytest
import qdrant_edge as qe
from qdrant_client import models

from rag.errors import ConfigError
from rag.index import DOCUMENT_KINDS, HybridQuery, VectorDims, VectorIndex
from rag.index.base import UPSERT_BATCH
from rag.types import Audience, BBox, Hit
from tests.rag.index.builders import DIMS, clip_vec, payload, point, sparse, text_vec
from tests.rag.index.conftest import COLLECTION, Store

HERE = Audience(team_id="T1", channel_id="C1")


def docs(hits: list[Hit]) -> list[str]:
    """Document ids of hits, in order."""
    return [hit.document_id for hit in hits]


async def test_open_creates_an_empty_index(index: VectorIndex) -> None:
    assert await index.count() == 0
    assert await index.query(HybridQuery(HERE, clip=(clip_vec((0, 1.0)),))) == []


async def test_a_query_without_any_vector_returns_nothing(index: VectorIndex) -> None:
    await index.upsert([point(payload("doc-a"), clip=clip_vec((0, 1.0)))])

    assert await index.query(HybridQuery(HERE, bm25=sparse())) == []


async def test_clip_leg_alone_returns_the_nearest_point_first(index: VectorIndex) -> None:
    await index.upsert(
        [
            point(payload("far"), clip=clip_vec((1, 1.0))),
            point(payload("near"), clip=clip_vec((0, 1.0), (1, 0.1))),
            point(payload("middle"), clip=clip_vec((0, 1.0), (1, 0.9))),
        ]
    )

    hits = await index.query(HybridQuery(HERE, clip=(clip_vec((0, 1.0)),)))

    assert docs(hits) == ["near", "middle", "far"]
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


async def test_text_leg_alone_returns_the_nearest_point_first(index: VectorIndex) -> None:
    await index.upsert(
        [
            point(payload("far"), text=text_vec((2, 1.0))),
            point(payload("near"), text=text_vec((3, 1.0), (2, 0.2))),
            point(payload("clip-only"), clip=clip_vec((3, 1.0))),
        ]
    )

    hits = await index.query(HybridQuery(HERE, text=text_vec((3, 1.0))))

    assert docs(hits) == ["near", "far"]


async def test_bm25_leg_alone_ranks_the_rare_matching_term_first(index: VectorIndex) -> None:
    await index.upsert(
        [
            point(payload("common-only"), bm25=sparse(t1=1.0)),
            point(payload("rare-term"), bm25=sparse(t1=0.5, t9=1.0)),
            point(payload("common-too"), bm25=sparse(t1=1.0, t2=1.0)),
            point(payload("no-match"), bm25=sparse(t5=1.0)),
        ]
    )

    hits = await index.query(HybridQuery(HERE, bm25=sparse(t1=1.0, t9=1.0)))

    assert docs(hits)[0] == "rare-term"
    assert "no-match" not in docs(hits)


async def test_fusion_prefers_a_point_ranked_high_in_two_legs(index: VectorIndex) -> None:
    await index.upsert(
        [
            point(payload("clip-best"), clip=clip_vec((0, 1.0))),
            point(payload("text-best"), text=text_vec((0, 1.0))),
            point(
                payload("both-second"),
                clip=clip_vec((0, 1.0), (1, 0.5)),
                text=text_vec((0, 1.0), (1, 0.5)),
            ),
        ]
    )

    hits = await index.query(HybridQuery(HERE, clip=(clip_vec((0, 1.0)),), text=text_vec((0, 1.0))))

    assert docs(hits)[0] == "both-second"
    assert set(docs(hits)) == {"clip-best", "text-best", "both-second"}


async def test_weights_change_the_fused_order(index: VectorIndex) -> None:
    # Qdrant's weighted RRF: position p of a leg with weight w scores 1 / (k + p / w), so
    # the leg with the higher weight lifts its second-placed point above the other's.
    await index.upsert(
        [
            point(payload("clip-first"), clip=clip_vec((0, 1.0))),
            point(payload("clip-second"), clip=clip_vec((0, 1.0), (1, 0.5))),
            point(payload("text-first"), text=text_vec((0, 1.0))),
            point(payload("text-second"), text=text_vec((0, 1.0), (1, 0.5))),
        ]
    )

    async def order(clip_weight: float, text_weight: float) -> list[str]:
        query = HybridQuery(
            HERE,
            clip=(clip_vec((0, 1.0)),),
            text=text_vec((0, 1.0)),
            clip_weight=clip_weight,
            text_weight=text_weight,
        )
        return [doc for doc in docs(await index.query(query)) if doc.endswith("-second")]

    assert await order(3.0, 1.0) == ["clip-second", "text-second"]
    assert await order(1.0, 3.0) == ["text-second", "clip-second"]


async def test_a_zero_weight_leg_does_not_count(index: VectorIndex) -> None:
    await index.upsert(
        [
            point(payload("clip-best"), clip=clip_vec((0, 1.0)), text=text_vec((1, 1.0))),
            point(payload("text-best"), clip=clip_vec((1, 1.0)), text=text_vec((0, 1.0))),
        ]
    )

    hits = await index.query(
        HybridQuery(HERE, clip=(clip_vec((0, 1.0)),), text=text_vec((0, 1.0)), clip_weight=0.0)
    )

    assert docs(hits)[0] == "text-best"


async def test_a_point_with_only_a_clip_vector_is_found_by_a_clip_query(
    index: VectorIndex,
) -> None:
    scanned = point(payload("scanned", kind="page", text=""), clip=clip_vec((4, 1.0)))
    await index.upsert([scanned, point(payload("typed"), text=text_vec((4, 1.0)))])

    by_clip = await index.query(HybridQuery(HERE, clip=(clip_vec((4, 1.0)),)))
    by_text = await index.query(HybridQuery(HERE, text=text_vec((4, 1.0))))

    assert docs(by_clip) == ["scanned"]
    assert by_clip[0].point_id == scanned.id
    assert docs(by_text) == ["typed"]


async def test_each_clip_vector_is_its_own_prefetch(index: VectorIndex) -> None:
    await index.upsert(
        [
            point(payload("question-match"), clip=clip_vec((0, 1.0))),
            point(payload("image-match"), clip=clip_vec((5, 1.0))),
            point(payload("neither"), clip=clip_vec((7, 1.0))),
        ]
    )

    hits = await index.query(
        HybridQuery(HERE, clip=(clip_vec((0, 1.0)), clip_vec((5, 1.0))), prefetch_limit=1)
    )

    assert sorted(docs(hits)) == ["image-match", "question-match"]


async def test_numpy_vectors_are_accepted(index: VectorIndex) -> None:
    clip = np.asarray(clip_vec((6, 1.0)), dtype=np.float32)
    text = np.asarray(text_vec((5, 1.0)), dtype=np.float32)
    await index.upsert([point(payload("array"), clip=clip, text=text)])

    query = HybridQuery(HERE, clip=(clip,), text=text)  # type: ignore[arg-type]

    assert docs(await index.query(query)) == ["array"]


async def test_limit_caps_the_fused_hits(index: VectorIndex) -> None:
    await index.upsert([point(payload(f"d{i}"), clip=clip_vec((i, 1.0))) for i in range(6)])

    hits = await index.query(HybridQuery(HERE, clip=(clip_vec((0, 1.0)),), limit=2))

    assert len(hits) == 2
    assert hits[0].document_id == "d0"


async def _permission_corpus(index: VectorIndex) -> None:
    same = clip_vec((0, 1.0))
    await index.upsert(
        [
            point(payload("public-c1", channel_id="C1"), clip=same),
            point(payload("public-c2", channel_id="C2"), clip=same),
            point(payload("private-c1", channel_id="C1", private=True), clip=same),
            point(payload("private-c2", channel_id="C2", private=True), clip=same),
            point(payload("other-team-public", team_id="T2", channel_id="C1"), clip=same),
            point(
                payload("other-team-private", team_id="T2", channel_id="C1", private=True),
                clip=same,
            ),
        ]
    )


async def _visible(index: VectorIndex, team_id: str, channel_id: str) -> set[str]:
    audience = Audience(team_id=team_id, channel_id=channel_id)
    return set(docs(await index.query(HybridQuery(audience, clip=(clip_vec((0, 1.0)),)))))


async def test_private_channel_documents_answer_only_in_their_channel(
    index: VectorIndex,
) -> None:
    await _permission_corpus(index)

    assert "private-c1" in await _visible(index, "T1", "C1")
    assert "private-c1" not in await _visible(index, "T1", "C2")
    assert "private-c1" not in await _visible(index, "T1", "D-direct")
    assert "private-c1" not in await _visible(index, "T2", "C1")


async def test_public_channel_documents_answer_anywhere_in_their_team(index: VectorIndex) -> None:
    await _permission_corpus(index)

    assert await _visible(index, "T1", "C1") == {"public-c1", "public-c2", "private-c1"}
    assert await _visible(index, "T1", "C3") == {"public-c1", "public-c2"}
    assert await _visible(index, "T1", "D-direct") == {"public-c1", "public-c2"}


async def test_an_own_channel_audience_sees_only_that_channels_documents(
    index: VectorIndex,
) -> None:
    await _permission_corpus(index)
    confined = Audience("T1", "C1", own_channel_only=True)
    hits = await index.query(HybridQuery(confined, clip=(clip_vec((0, 1.0)),)))

    assert set(docs(hits)) == {"public-c1", "private-c1"}


async def test_a_channel_made_private_stops_lending_its_points_and_can_lend_them_again(
    index: VectorIndex,
) -> None:
    await _permission_corpus(index)

    await index.set_channel_visibility("T1", "C2", True)
    confined = await _visible(index, "T1", "C1")
    inside = await _visible(index, "T1", "C2")
    await index.set_channel_visibility("T1", "C2", False)

    assert "public-c2" not in confined and "public-c2" in inside
    assert "public-c2" in await _visible(index, "T1", "C1")
    assert await _visible(index, "T2", "C9") == {"other-team-public"}


async def test_documents_never_answer_in_another_team(index: VectorIndex) -> None:
    await _permission_corpus(index)

    assert await _visible(index, "T2", "C1") == {"other-team-public", "other-team-private"}
    assert await _visible(index, "T2", "C9") == {"other-team-public"}
    assert await _visible(index, "T3", "C1") == set()


async def test_the_permission_filter_applies_before_each_prefetch_limit(
    index: VectorIndex,
) -> None:
    # Ten closer points of another team must not crowd the visible one out of a leg.
    hidden = [
        point(payload(f"other-{i}", team_id="T2"), clip=clip_vec((0, 1.0)), bm25=sparse(t1=1.0))
        for i in range(10)
    ]
    visible = point(payload("mine"), clip=clip_vec((0, 1.0), (3, 2.0)), bm25=sparse(t1=0.1, t4=1.0))
    await index.upsert([*hidden, visible])

    hits = await index.query(
        HybridQuery(HERE, clip=(clip_vec((0, 1.0)),), bm25=sparse(t1=1.0), prefetch_limit=2)
    )

    assert docs(hits) == ["mine"]


async def test_delete_document_removes_all_its_points_and_leaves_others(
    index: VectorIndex,
) -> None:
    await index.upsert(
        [point(payload("gone", page_number=n), clip=clip_vec((0, 1.0))) for n in range(1, 4)]
        + [point(payload("kept"), clip=clip_vec((0, 1.0)), text=text_vec((0, 1.0)))]
    )

    await index.delete_document("gone")

    assert await index.count(document_id="gone") == 0
    assert await index.count(document_id="kept") == 1
    assert docs(await index.query(HybridQuery(HERE, clip=(clip_vec((0, 1.0)),)))) == ["kept"]


async def test_deleting_an_unknown_document_is_harmless(index: VectorIndex) -> None:
    await index.upsert([point(payload("kept"), clip=clip_vec((0, 1.0)))])

    await index.delete_document("never-indexed")

    assert await index.count() == 1


async def test_count_by_document_and_by_team_is_exact(index: VectorIndex) -> None:
    await index.upsert(
        [point(payload("a", team_id="T1"), text=text_vec((0, 1.0))) for _ in range(3)]
        + [point(payload("b", team_id="T1"), text=text_vec((1, 1.0))) for _ in range(2)]
        + [point(payload("c", team_id="T2"), text=text_vec((2, 1.0))) for _ in range(4)]
    )

    assert await index.count() == 9
    assert await index.count(document_id="a") == 3
    assert await index.count(team_id="T1") == 5
    assert await index.count(team_id="T2") == 4
    assert await index.count(document_id="c", team_id="T1") == 0
    assert await index.count(document_id="missing") == 0


async def test_upsert_batches_a_large_list(index: VectorIndex) -> None:
    total = UPSERT_BATCH * 2 + 7
    await index.upsert(
        [point(payload("big", page_number=i), clip=clip_vec((i % 8, 1.0))) for i in range(total)]
    )

    assert await index.count(document_id="big") == total


async def test_upserting_the_same_id_replaces_the_point(index: VectorIndex) -> None:
    first = point(payload("doc", text="old words"), text=text_vec((0, 1.0)))
    await index.upsert([first])
    again = type(first)(id=first.id, payload=payload("doc", text="new words"), text=first.text)

    await index.upsert([again])

    hits = await index.query(HybridQuery(HERE, text=text_vec((0, 1.0))))
    assert await index.count() == 1
    assert [hit.text for hit in hits] == ["new words"]


async def test_a_hit_carries_the_payload_back_including_bboxes(index: VectorIndex) -> None:
    boxes = (BBox(10.0, 20.5, 300.0, 40.0), BBox(10.0, 44.0, 120.25, 60.0))
    data = payload(
        "report",
        channel_id="C1",
        private=True,
        page_number=12,
        kind="figure",
        text="Revenue grew 12% in 2023.",
        bboxes=boxes,
    )
    stored = point(data, text=text_vec((5, 1.0)))
    await index.upsert([stored])

    [hit] = await index.query(HybridQuery(HERE, text=text_vec((5, 1.0))))

    assert hit == Hit(
        point_id=stored.id,
        document_id="report",
        file_name="report.pdf",
        page_number=12,
        kind="figure",
        score=hit.score,
        text="Revenue grew 12% in 2023.",
        bboxes=(BBox(10.0, 20.5, 300.0, 40.0), BBox(10.0, 44.0, 120.2, 60.0)),
        channel_id="C1",
    )
    assert hit.score > 0


async def test_a_vector_of_the_wrong_size_is_refused_before_writing(index: VectorIndex) -> None:
    with pytest.raises(ValueError, match="clip has 3 dims"):
        await index.upsert([point(payload("bad"), clip=(1.0, 0.0, 0.0))])
    with pytest.raises(ValueError, match="text query has 2 dims"):
        await index.query(HybridQuery(HERE, text=(1.0, 0.0)))

    assert await index.count() == 0


async def test_opening_existing_data_with_other_dims_says_the_models_changed(
    store: Store,
) -> None:
    first = store.handle()
    await first.open(DIMS)
    await first.upsert([point(payload("doc"), clip=clip_vec((0, 1.0)))])
    await store.release(first)

    second = store.handle()
    with pytest.raises(ConfigError, match="the models changed") as raised:
        await second.open(VectorDims(clip=DIMS.clip + 1, text=DIMS.text))

    assert "clip=9/text=6" in raised.value.user_message


async def test_opening_existing_data_with_the_same_dims_keeps_it(store: Store) -> None:
    first = store.handle()
    await first.open(DIMS)
    await first.upsert([point(payload("doc"), clip=clip_vec((0, 1.0)))])
    await store.release(first)

    second = store.handle()
    await second.open(DIMS)

    assert await second.count(document_id="doc") == 1


async def test_a_query_reads_only_its_kinds_document_points_apart_from_pages(
    index: VectorIndex,
) -> None:
    # The document's own point is the nearest of all, yet a page query never returns it.
    await index.upsert(
        [
            point(payload("a", kind="document"), text=text_vec((0, 1.0))),
            point(payload("a", kind="chunk"), text=text_vec((0, 1.0), (1, 0.5))),
            point(payload("a", kind="page", page_number=2), text=text_vec((0, 1.0), (1, 0.9))),
            point(payload("b", kind="document"), text=text_vec((0, 1.0), (1, 0.2))),
            point(payload("b", kind="figure"), text=text_vec((1, 1.0))),
        ]
    )
    query = text_vec((0, 1.0))

    pages = await index.query(HybridQuery(HERE, text=query))
    documents = await index.query(HybridQuery(HERE, text=query, kinds=DOCUMENT_KINDS))

    assert [(h.document_id, h.kind) for h in pages] == [
        ("a", "chunk"),
        ("a", "page"),
        ("b", "figure"),
    ]
    assert [(h.document_id, h.kind) for h in documents] == [("a", "document"), ("b", "document")]
    # Document points follow their channel's visibility and their document's deletion.
    await index.set_channel_visibility("T1", "C1", True)
    elsewhere = Audience(team_id="T1", channel_id="C2")
    assert await index.query(HybridQuery(elsewhere, text=query, kinds=DOCUMENT_KINDS)) == []
    await index.delete_document("a")
    documents = await index.query(HybridQuery(HERE, text=query, kinds=DOCUMENT_KINDS))
    assert [(h.document_id, h.kind) for h in documents] == [("b", "document")]


def test_a_query_needs_known_kinds() -> None:
    with pytest.raises(ValueError, match="kinds"):
        HybridQuery(HERE, kinds=())


# The question's two token vectors, and passages' token rows: "b" holds both of the
# question's tokens (MaxSim 2.0), "a" only one (1.0), "c" none of them.
QUESTION_TOKENS = (text_vec((4, 1.0)), text_vec((5, 1.0)))
TOKENS_A = (text_vec((4, 1.0)), text_vec((3, 1.0)))
TOKENS_B = (text_vec((4, 1.0)), text_vec((5, 1.0)))


async def _late_interaction_corpus(index: VectorIndex) -> None:
    # By the text vector alone: a, then b, then c.
    await index.upsert(
        [
            point(payload("a"), text=text_vec((0, 1.0)), tokens=TOKENS_A),
            point(payload("b"), text=text_vec((0, 1.0), (1, 0.3)), tokens=TOKENS_B),
            point(payload("c"), text=text_vec((0, 1.0), (1, 0.6))),
        ]
    )


@pytest.mark.parametrize(("fusion", "weight"), [("rank", 0.1), ("score", 0.01)])
async def test_late_interaction_ranks_the_fused_top_again_by_maxsim(
    index: VectorIndex, fusion: Literal["rank", "score"], weight: float
) -> None:
    await _late_interaction_corpus(index)
    query = text_vec((0, 1.0))

    plain = await index.query(HybridQuery(HERE, text=query, tokens=QUESTION_TOKENS))
    reranked = await index.query(
        HybridQuery(
            HERE, text=query, tokens=QUESTION_TOKENS, token_weight=weight, token_fusion=fusion
        )
    )

    assert docs(plain) == ["a", "b", "c"]
    # b's tokens match the question's best (MaxSim 2 > 1): fused with its first score or
    # rank, that lifts it over a; c has no token vectors and keeps only its fused score.
    assert docs(reranked) == ["b", "a", "c"]
    assert reranked[0].score > reranked[1].score > reranked[2].score


async def test_late_interaction_by_score_moves_a_point_only_as_far_as_maxsim_says(
    index: VectorIndex,
) -> None:
    await _late_interaction_corpus(index)

    # b's MaxSim per question token beats a's by 0.5; at this weight that is 0.00005,
    # less than the fused scores of a and b differ (1/60 - 1/61 = 0.00027).
    hits = await index.query(
        HybridQuery(HERE, text=text_vec((0, 1.0)), tokens=QUESTION_TOKENS, token_weight=1e-4)
    )

    assert docs(hits) == ["a", "b", "c"]


async def test_late_interaction_reranks_only_the_top_candidates(index: VectorIndex) -> None:
    await _late_interaction_corpus(index)

    hits = await index.query(
        HybridQuery(
            HERE, text=text_vec((0, 1.0)), tokens=QUESTION_TOKENS, token_weight=0.1, rerank_limit=1
        )
    )

    # Only a is among the top 1 that MaxSim ranks again: b's better tokens are not read.
    assert docs(hits) == ["a", "b", "c"]


async def test_late_interaction_keeps_the_permission_filter(index: VectorIndex) -> None:
    await index.upsert(
        [
            point(payload("mine"), text=text_vec((0, 1.0)), tokens=TOKENS_A),
            point(
                payload("private", channel_id="C9", private=True),
                text=text_vec((0, 1.0)),
                tokens=TOKENS_B,
            ),
        ]
    )

    hits = await index.query(
        HybridQuery(HERE, text=text_vec((0, 1.0)), tokens=QUESTION_TOKENS, token_weight=0.1)
    )

    assert docs(hits) == ["mine"]


async def test_bm25_head_field_weight_lifts_a_passage_whose_head_holds_the_terms(
    index: VectorIndex,
) -> None:
    # Both passages hold the term once in their text; only "headed" has it in its heading.
    await index.upsert(
        [
            point(payload("body"), bm25=sparse(t1=1.2, t2=1.0)),
            point(payload("headed"), bm25=sparse(t1=1.0, t3=1.0), bm25_head=sparse(t1=1.5)),
            point(payload("other"), bm25=sparse(t4=1.0), bm25_head=sparse(t4=1.0)),
        ]
    )
    question = sparse(t1=1.0)

    flat = await index.query(HybridQuery(HERE, bm25=question))
    weighted = await index.query(HybridQuery(HERE, bm25=question, bm25_head_weight=1.0))

    assert docs(flat) == ["body", "headed"]
    assert docs(weighted) == ["headed", "body"]


async def test_a_store_made_before_token_and_head_vectors_still_answers(store: Store) -> None:
    await _make_old_store(store)
    index = store.handle()
    await index.open(DIMS)
    await index.upsert(
        [point(payload("new"), text=text_vec((0, 1.0)), tokens=TOKENS_B, bm25_head=sparse(t1=1.0))]
    )

    hits = await index.query(
        HybridQuery(
            HERE,
            text=text_vec((0, 1.0)),
            bm25=sparse(t1=1.0),
            bm25_head_weight=1.0,
            tokens=QUESTION_TOKENS,
            token_weight=0.1,
        )
    )

    # Without the two vectors the query is the plain fused one: no error, same points.
    assert sorted(docs(hits)) == ["new", "old"]


async def _make_old_store(store: Store) -> None:
    """A store with only clip, text and bm25 (as folio made them before), holding "old"."""
    vectors = {"text": [1.0] + [0.0] * (DIMS.text - 1)}
    data = payload("old").to_dict()
    if store.client is None:
        config = qe.EdgeConfig(
            vectors={
                "clip": qe.EdgeVectorParams(size=DIMS.clip, distance=qe.Distance.Cosine),
                "text": qe.EdgeVectorParams(size=DIMS.text, distance=qe.Distance.Cosine),
            },
            sparse_vectors={"bm25": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        store.path.mkdir(parents=True)
        shard = qe.EdgeShard.create(str(store.path), config)
        shard.update(qe.UpdateOperation.upsert_points([qe.Point(str(uuid.uuid4()), vectors, data)]))
        shard.flush()
        shard.close()
        return
    await store.client.create_collection(
        COLLECTION,
        vectors_config={
            "clip": models.VectorParams(size=DIMS.clip, distance=models.Distance.COSINE),
            "text": models.VectorParams(size=DIMS.text, distance=models.Distance.COSINE),
        },
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    await store.client.upsert(
        COLLECTION, points=[models.PointStruct(id=str(uuid.uuid4()), vector=vectors, payload=data)]
    )
