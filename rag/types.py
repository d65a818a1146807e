"""folio's domain values: small frozen dataclasses passed between layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal

PointKind = Literal["chunk", "page", "figure", "document"]
AnswerMode = Literal["model", "extractive", "nothing_found"]
# What a document was shared as. Everything but a picture is read (and re-rendered for
# answers) as PDF pages: Office files through LibreOffice, text laid out by PyMuPDF.
DocumentKind = Literal["pdf", "image", "document", "presentation", "spreadsheet", "text"]
# LibreOffice prints a deck one slide per page, and a workbook sheet by sheet over pages.
_SLIDE_SUFFIXES = frozenset({".pptx", ".ppt", ".pps", ".ppsx", ".odp"})
_SHEET_SUFFIXES = frozenset({".xlsx", ".xls", ".ods", ".csv"})


def page_label(file_name: str, number: int, *, short: bool = False) -> str:
    """How people name page ``number`` of this file: "slide 4" of a deck, "sheet page 2"
    of a workbook, else "page 3" (``short``: "p. 3")."""
    suffix = PurePosixPath(file_name.lower()).suffix
    if suffix in _SLIDE_SUFFIXES:
        return f"slide {number}"
    if suffix in _SHEET_SUFFIXES:
        return f"sheet page {number}"
    return f"p. {number}" if short else f"page {number}"


ChannelIndexing = Literal["configured", "on", "off"]
VectorStore = Literal["embedded", "server"]

_NAME_CHARS = 150  # a file name longer than this is shortened in the lines folio posts


@dataclass(frozen=True, slots=True)
class BBox:
    """A rectangle on a page in PDF points, origin top-left (PyMuPDF's convention)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def as_list(self) -> list[float]:
        """JSON-friendly form, rounded to a tenth of a point."""
        return [round(self.x0, 1), round(self.y0, 1), round(self.x1, 1), round(self.y1, 1)]

    @classmethod
    def from_list(cls, values: list[float] | tuple[float, ...]) -> BBox:
        """Inverse of ``as_list``."""
        x0, y0, x1, y1 = (float(v) for v in values)
        return cls(x0, y0, x1, y1)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a document lives: the workspace and channel it was shared in."""

    team_id: str
    channel_id: str
    channel_private: bool = False


@dataclass(frozen=True, slots=True)
class Audience:
    """Where a question is asked; decides which documents may answer it.

    ``own_channel_only``: the channel is shared with another organisation, or the asker is
    a guest, so only documents shared in this very channel may answer.
    """

    team_id: str
    channel_id: str
    own_channel_only: bool = False


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What Slack says about a channel that decides who may read what is shared there.

    ``external``: shared with another organisation (Slack Connect), or about to be;
    ``member``: folio is in the channel (it was not removed).
    """

    private: bool
    external: bool = False
    archived: bool = False
    member: bool = True

    @property
    def confined(self) -> bool:
        """Documents shared here stay this channel's own: only a public, unshared, live
        channel folio is in lends them to the whole workspace."""
        return self.private or self.external or self.archived or not self.member


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What Slack says about a person that decides what folio lets them see and change."""

    guest: bool
    admin: bool = False


@dataclass(frozen=True, slots=True)
class TableRow:
    """A row of a table: its label and column values, under its table's title and header."""

    table: int  # which table of its page
    cells: tuple[str, ...]
    header: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True, slots=True)
class TextBlock:
    """A block of text on a page, in reading order, and the headings it sits under.

    A table's rows are blocks of their own, with ``row`` set: passages of a few rows each.
    """

    text: str
    bbox: BBox
    section: tuple[str, ...] = ()
    row: TableRow | None = None


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure cut from a page: an embedded raster image or a vector-drawn region."""

    page_number: int
    index: int
    bbox: BBox
    png: bytes
    kind: Literal["raster", "vector"]


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """One parsed page: its text blocks, a render, and its figures (1-based ``number``).

    ``ocr`` marks a page without a (sufficient) text layer, whose words are read by OCR.
    """

    number: int
    width: float
    height: float
    blocks: tuple[TextBlock, ...]
    render_png: bytes
    figures: tuple[Figure, ...] = ()
    ocr: bool = False

    @property
    def text(self) -> str:
        """All text on the page, blocks joined in reading order."""
        return "\n".join(block.text for block in self.blocks)


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """The result of parsing one file.

    ``rendition`` is the PDF its pages were read from when that is not the file itself
    (an Office file converted, a text file laid out): what is stored to render pages again.
    """

    kind: DocumentKind
    pages: tuple[ParsedPage, ...]
    rendition: bytes | None = field(default=None, repr=False)

    @property
    def figure_count(self) -> int:
        """How many figures were found on all pages."""
        return sum(len(page.figures) for page in self.pages)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a page that is embedded as one text point, and the section it is in."""

    page_number: int
    index: int
    text: str
    bboxes: tuple[BBox, ...]
    section: tuple[str, ...] = ()

    @property
    def heading_path(self) -> str:
        """The section's headings, outermost first: "Notes › 2. Acquisitions"."""
        return " › ".join(self.section)


@dataclass(frozen=True, slots=True)
class Document:
    """An indexed document as recorded in the database."""

    id: str
    scope: Scope
    file_name: str
    content_hash: str
    kind: DocumentKind
    page_count: int
    figure_count: int
    created_at: datetime
    slack_file_id: str | None = None
    uploader_id: str | None = None
    permalink: str | None = None
    superseded_at: datetime | None = None

    @property
    def superseded(self) -> bool:
        """True when a newer version replaced it: it is listed but no longer answers."""
        return self.superseded_at is not None


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file already in a channel, as a backfill sees it (newest first from Slack)."""

    slack_file_id: str
    file_name: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """How a backfill of a channel's existing files stands."""

    id: str
    channel_id: str
    message_ts: str | None
    total: int
    done: int
    failed: int
    failures: tuple[tuple[str, str], ...] = ()  # (file name, why) of the first few failed

    @property
    def finished(self) -> bool:
        """True when every file was indexed or failed."""
        return self.done + self.failed >= self.total


@dataclass(frozen=True, slots=True)
class SparseVector:
    """A sparse vector (BM25 term weights keyed by hashed token ids)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Hit:
    """One point returned by the index, after fusion."""

    point_id: str
    document_id: str
    file_name: str
    page_number: int
    kind: PointKind
    score: float
    text: str
    bboxes: tuple[BBox, ...] = ()
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class PageHit:
    """A page found by a search: its best fused score and the hits on it, best first."""

    document_id: str
    file_name: str
    page_number: int
    score: float
    hits: tuple[Hit, ...]

    @property
    def passage(self) -> str:
        """The best text on the page for quoting (chunk text first, else caption/page text)."""
        for hit in self.hits:
            if hit.kind == "chunk" and hit.text:
                return hit.text
        return next((hit.text for hit in self.hits if hit.text), "")

    @property
    def page_label(self) -> str:
        """ "page 3", "slide 3" or "sheet page 3", as the file's kind names its pages."""
        return page_label(self.file_name, self.page_number)

    @property
    def bboxes(self) -> tuple[BBox, ...]:
        """Boxes of the best passage, for highlighting."""
        for hit in self.hits:
            if hit.kind == "chunk" and hit.bboxes:
                return hit.bboxes
        return ()


@dataclass(frozen=True, slots=True)
class QueryImage:
    """A picture sent with a question."""

    data: bytes
    name: str = "image"


@dataclass(frozen=True, slots=True)
class Citation:
    """A source the answer cites as ``[number]``."""

    number: int
    document_id: str
    file_name: str
    page_number: int
    passage: str
    bboxes: tuple[BBox, ...] = ()
    slack_file_id: str | None = None
    permalink: str | None = None

    @property
    def page_label(self) -> str:
        """ "page 3", "slide 3" or "sheet page 3", as the file's kind names its pages."""
        return page_label(self.file_name, self.page_number)


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """An earlier message of the conversation a question was asked in, by someone else than
    folio: context for the question, quoted to the model as untrusted text."""

    author: str
    text: str


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier question and answer in the same conversation."""

    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A cited answer to a question."""

    question: str
    text: str
    mode: AnswerMode
    citations: tuple[Citation, ...] = ()
    standalone_question: str | None = None
    sources: tuple[PageHit, ...] = field(default=(), repr=False)
    # How many earlier messages of the conversation were read as context.
    thread_messages: int = 0


@dataclass(frozen=True, slots=True)
class SuggestedPrompt:
    """A question to offer someone opening a conversation: its short label and its text."""

    title: str
    message: str


@dataclass(frozen=True, slots=True)
class RecordedAnswer:
    """An answer as recorded: who asked it where (to share a private answer later)."""

    id: str
    team_id: str
    channel_id: str
    user_id: str
    answer: Answer


@dataclass(frozen=True, slots=True)
class PageImage:
    """A cited page rendered as PNG with its passages highlighted, named for an upload."""

    filename: str
    title: str
    png: bytes
    alt_text: str = ""


@dataclass(frozen=True, slots=True)
class Question:
    """A question as an adapter received it: who asked, where, in which conversation.

    ``thread`` names the conversation the answer belongs to (Slack: the thread's ts); when
    ``follow_up`` is set, the earlier answers recorded in it are the question's history.
    """

    text: str
    audience: Audience
    user_id: str
    thread: str | None = None
    follow_up: bool = False
    images: tuple[QueryImage, ...] = ()
    # Documents sent with the question (a PDF in a DM): read for it only, never stored.
    documents: tuple[QueryImage, ...] = ()
    # The conversation's earlier messages by people (untrusted context, oldest first).
    context: tuple[ThreadMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class Answered:
    """Everything to post for one question: the answer, its id, and the cited pages."""

    answer: Answer
    answer_id: str
    pages: tuple[PageImage, ...] = ()
    # One line per cited page left out ("The image of q3.pdf, p. 4 took too long to draw…").
    page_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest did: the document, and whether it was new."""

    document: Document
    created: bool
    replaced: int = 0  # earlier versions (same name, same channel) this one superseded

    @property
    def summary(self) -> str:
        """The line for the person who shared the file: ``Indexed q3.pdf: 42 pages, 7 figures``."""
        doc = self.document
        name = doc.file_name
        if len(name) > _NAME_CHARS:
            name = name[: _NAME_CHARS - 1].rstrip() + "…"
        line = (
            f"Indexed {name}: {plural(doc.page_count, 'page')}, "
            f"{plural(doc.figure_count, 'figure')}"
        )
        if not self.created:
            return f"{line} (already indexed here)"
        return f"{line} (replaces the earlier version)" if self.replaced else line


@dataclass(frozen=True, slots=True)
class PageInfo:
    """What the database keeps about one page of a document."""

    number: int
    width: float
    height: float
    text: str
    figure_count: int = 0


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Per-channel switches set with `/folio index here|off` and friends."""

    team_id: str
    channel_id: str
    indexing: bool = False
    followups: bool = True
    autoanswer: bool = False


@dataclass(frozen=True, slots=True)
class VectorModels:
    """Which CLIP and text models made a set of vectors: name, weights fingerprint, size.

    Two sets of vectors mix only when both fingerprints match; the names are for people.
    """

    clip_model: str
    clip_weights: str
    clip_dim: int
    text_model: str
    text_weights: str
    text_dim: int

    def same_vectors(self, other: VectorModels) -> bool:
        """True when vectors made by ``other`` can be searched with these models."""
        mine = (self.clip_weights, self.clip_dim, self.text_weights, self.text_dim)
        return mine == (other.clip_weights, other.clip_dim, other.text_weights, other.text_dim)

    def describe(self) -> str:
        """CLIP and text model names with the start of their fingerprints, for messages."""
        return (
            f"CLIP {self.clip_model} (weights {self.clip_weights[:8]}) and "
            f"text {self.text_model} (weights {self.text_weights[:8]})"
        )


@dataclass(frozen=True, slots=True)
class RecentAnswer:
    """One recent answer as App Home lists it; ``score`` is the sum of its votes."""

    id: str
    question: str
    created_at: datetime
    channel_id: str
    mode: str
    score: int


@dataclass(frozen=True, slots=True)
class AnswerFeedback:
    """One answer and the votes on it: 👍 and 👎 counts, the reasons given with 👎, and the
    pages it cited as (file name, page number)."""

    id: str
    question: str
    answer: str
    created_at: datetime
    channel_id: str
    mode: str
    up: int
    down: int
    reasons: tuple[str, ...] = ()
    pages: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Status:
    """How folio stands, seen from one channel: the index, the queue, switches, set-up.

    ``indexing`` is ``configured`` when FOLIO_INDEX_CHANNELS lists the channel;
    ``answer_model`` is None when no model is configured (answers quote passages).
    With a Qdrant server and no ``workers`` running, shared files wait in the queue.
    """

    documents: int
    pages: int
    pending_jobs: int
    indexing: ChannelIndexing
    followups: bool
    answer_model: str | None
    vector_store: VectorStore
    autoanswer: bool = False
    workers: int | None = None  # `folio worker` processes running, when known


@dataclass(frozen=True, slots=True)
class Home:
    """What one person's home page shows: public documents, indexing channels, their questions."""

    documents: tuple[Document, ...]
    indexing_channels: tuple[str, ...]
    recent: tuple[RecentAnswer, ...]
    feedback: tuple[AnswerFeedback, ...] = ()  # their answers this week, with the votes


def plural(count: int, word: str) -> str:
    """``1 page``, ``2 pages``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
