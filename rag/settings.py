"""Settings.from_env: the one place folio reads its configuration."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlparse

from rag.errors import ConfigError

T = TypeVar("T")

DEFAULT_VISION_MODEL = "gpt-4o"
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# What the embedders compute in; see rag.embed._shared.model_dtype.
Precision = Literal["auto", "float32", "bfloat16"]
OldVersions = Literal["keep", "drop"]
PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "bfloat16")
# What runs the text model; see rag.embed._openvino.
Backend = Literal["auto", "torch", "openvino"]
BACKENDS: tuple[Backend, ...] = ("auto", "torch", "openvino")


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value that never prints."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Limits for parsing one untrusted file in a child process."""

    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 500
    timeout_s: float = 120.0
    memory_mb: int = 2048
    max_page_points: float = 5000.0
    max_image_pixels: int = 40_000_000
    render_dpi: int = 110
    # Answers' page images: drawn in this many isolated children, each page within the limit.
    render_workers: int = 2
    render_timeout_s: float = 20.0
    ocr: bool = True
    # Set by the Ingestor when renders only feed CLIP: shrink them to CLIP's input size
    # in the parse child (see rag.ingest._visual). None keeps legible renders (captions).
    visual_side: int | None = None


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    """How hybrid retrieval fuses its legs.

    The CLIP leg's text query weighs 0.25: CLIP reads 77 tokens and ranks pages by how
    they look, a weak vote on a worded question even with a real model (with a random
    one it is noise); the pictures of a question search CLIP alone, where a leg's weight
    changes nothing.
    ``document_weight`` is the document stage's vote: the pages of the document ranked
    ``r`` (0-based) on its name and opening get ``document_weight / (document_k + r)``
    added to their fused score (a leg's top hit scores 1/60). ``page_fusion`` adds a
    page's own vector's score to its best passage's (measured, it lost; off).
    ``bm25_head_weight`` is a BM25 field weight: the BM25 leg scores a passage's whole
    text plus this times its head field (document name, heading path, a table's title and
    header row). ``token_weight`` > 0 turns on late interaction: the top ``rerank_limit``
    fused points are scored by MaxSim over the text model's token vectors (stored only with
    ``Settings.token_vectors``), and ``token_fusion`` "score" adds ``token_weight`` times
    their MaxSim per question token to their fused score ("rank": RRF of the two rankings,
    weighted 1 and ``token_weight``; measured, it lifts recall@5 but lowers mrr@10).
    """

    top_k: int = 8
    prefetch_limit: int = 50
    rrf_k: int = 60
    clip_weight: float = 0.25
    text_weight: float = 1.0
    bm25_weight: float = 1.0
    document_weight: float = 0.01
    document_k: int = 2
    page_fusion: bool = False
    bm25_head_weight: float = 0.0
    token_weight: float = 0.0
    token_fusion: Literal["rank", "score"] = "score"
    rerank_limit: int = 100


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """How folio talks to the vision/answer model."""

    vision_model: str = DEFAULT_VISION_MODEL
    answer_model: str = DEFAULT_VISION_MODEL
    timeout_s: float = 60.0
    max_retries: int = 3
    concurrency: int = 4
    max_captions_per_document: int = 20
    answer_page_images: int = 3


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything folio can be configured with; see DESIGN.md's table."""

    data_dir: Path = Path("data")
    slack_bot_token: Secret | None = None
    slack_app_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_file_hosts: tuple[str, ...] = ("files.slack.com",)
    index_channels: tuple[str, ...] = ()
    # How many of a channel's existing files `/folio index here` reads (newest first).
    backfill_limit: int = 200
    # A replaced version: "drop" removes it, "keep" lists it as superseded (no answers).
    old_versions: OldVersions = "drop"
    admin_users: tuple[str, ...] = ()
    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    database_url: str = ""
    qdrant_url: str | None = None
    qdrant_api_key: Secret | None = None
    qdrant_collection: str = "folio"
    clip_model: str = DEFAULT_CLIP_MODEL
    text_model: str = DEFAULT_TEXT_MODEL
    # auto: bfloat16 where the CPU has AMX (there it is ~3x faster), else float32.
    embed_precision: Precision = "auto"
    # Store the text model's token vectors with every passage (late interaction).
    token_vectors: bool = False
    # auto: OpenVINO where it is installed and agrees with torch float32, else torch.
    embed_backend: Backend = "auto"
    # Where models exported for another backend are cached (default: data dir / models).
    model_cache: Path = Path("data/models")
    port: int = 3000
    # /metrics is never public: on its own port (0: none), or behind this bearer token.
    metrics_port: int = 0
    metrics_token: Secret | None = None
    log_level: str = "INFO"
    # How long a claimed job is a worker's without a heartbeat before another may resume it.
    job_lease_s: float = 900.0
    # On SIGTERM: how long answers being written and the job in hand may take to finish.
    shutdown_grace_s: float = 20.0
    # Questions a minute one person, and one channel, may ask (0: no limit).
    rate_user_per_min: int = 6
    rate_channel_per_min: int = 20
    # How long a mention without files waits for its message event, which may carry them.
    mention_files_wait_s: float = 2.0
    parse: ParseLimits = ParseLimits()
    retrieval: RetrievalConfig = RetrievalConfig()
    llm: LlmConfig = LlmConfig()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read settings from an environment mapping; a bad value raises ConfigError."""
        env = _Env(environ)
        data_dir = Path(env.text("FOLIO_DATA_DIR", "data"))
        vision_model = env.text("FOLIO_VISION_MODEL", DEFAULT_VISION_MODEL)
        late_interaction = env.choice("FOLIO_LATE_INTERACTION", "OFF", ("ON", "OFF")) == "ON"
        return cls(
            data_dir=data_dir,
            slack_bot_token=env.secret("SLACK_BOT_TOKEN", prefix="xoxb-"),
            slack_app_token=env.secret("SLACK_APP_TOKEN", prefix="xapp-"),
            slack_signing_secret=env.secret("SLACK_SIGNING_SECRET"),
            slack_api_url=_with_slash(env.url("SLACK_API_URL", "https://slack.com/api/")),
            slack_file_hosts=env.items("FOLIO_SLACK_FILE_HOSTS", ("files.slack.com",)),
            index_channels=env.items("FOLIO_INDEX_CHANNELS", ()),
            backfill_limit=env.number("FOLIO_BACKFILL_LIMIT", 200, int, low=0, high=10_000),
            old_versions=_old_versions(env.choice("FOLIO_OLD_VERSIONS", "DROP", ("DROP", "KEEP"))),
            admin_users=env.items("FOLIO_ADMIN_USERS", ()),
            openai_api_key=env.secret("OPENAI_API_KEY"),
            openai_base_url=env.optional_url("OPENAI_BASE_URL"),
            database_url=env.text("DATABASE_URL", _default_database_url(data_dir)),
            qdrant_url=env.optional_url("QDRANT_URL"),
            qdrant_api_key=env.secret("QDRANT_API_KEY"),
            qdrant_collection=env.text("FOLIO_QDRANT_COLLECTION", "folio"),
            clip_model=env.text("FOLIO_CLIP_MODEL", DEFAULT_CLIP_MODEL),
            text_model=env.text("FOLIO_TEXT_MODEL", DEFAULT_TEXT_MODEL),
            embed_precision=_precision(env.text("FOLIO_EMBED_PRECISION", "auto")),
            token_vectors=late_interaction,
            embed_backend=_backend(env.choice("FOLIO_EMBED_BACKEND", "AUTO", _BACKEND_NAMES)),
            model_cache=Path(env.text("FOLIO_MODEL_CACHE", str(data_dir / "models"))),
            port=env.number("PORT", 3000, int, low=1, high=65535),
            metrics_port=env.number("FOLIO_METRICS_PORT", 0, int, low=0, high=65535),
            metrics_token=env.secret("FOLIO_METRICS_TOKEN"),
            log_level=env.choice("FOLIO_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            job_lease_s=env.number("FOLIO_JOB_LEASE_S", 900.0, float, low=1),
            shutdown_grace_s=env.number("FOLIO_SHUTDOWN_GRACE_S", 20.0, float, low=0),
            rate_user_per_min=env.number("FOLIO_RATE_USER_PER_MIN", 6, int, low=0),
            rate_channel_per_min=env.number("FOLIO_RATE_CHANNEL_PER_MIN", 20, int, low=0),
            mention_files_wait_s=env.number(
                "FOLIO_MENTION_FILES_WAIT_S", 2.0, float, low=0, high=30
            ),
            parse=ParseLimits(
                max_bytes=env.number("FOLIO_MAX_FILE_MB", 50, int, low=1) * 1024 * 1024,
                max_pages=env.number("FOLIO_MAX_PAGES", 500, int, low=1),
                timeout_s=env.number("FOLIO_PARSE_TIMEOUT_S", 120.0, float, low=1),
                memory_mb=env.number("FOLIO_PARSE_MEMORY_MB", 2048, int, low=256),
                render_workers=env.number("FOLIO_RENDER_WORKERS", 2, int, low=1, high=16),
                render_timeout_s=env.number("FOLIO_RENDER_TIMEOUT_S", 20.0, float, low=1),
                ocr=env.choice("FOLIO_OCR", "ON", ("ON", "OFF")) == "ON",
            ),
            retrieval=RetrievalConfig(
                top_k=env.number("FOLIO_TOP_K", 8, int, low=1, high=50),
                clip_weight=env.number("FOLIO_WEIGHT_CLIP", 0.25, float, low=0),
                text_weight=env.number("FOLIO_WEIGHT_TEXT", 1.0, float, low=0),
                bm25_weight=env.number("FOLIO_WEIGHT_BM25", 1.0, float, low=0),
                document_weight=env.number("FOLIO_WEIGHT_DOCUMENT", 0.01, float, low=0),
                bm25_head_weight=env.number("FOLIO_WEIGHT_BM25_HEAD", 0.0, float, low=0),
                token_weight=(
                    env.number("FOLIO_WEIGHT_TOKENS", 0.01, float, low=0)
                    if late_interaction
                    else 0.0
                ),
                rerank_limit=env.number("FOLIO_RERANK_LIMIT", 100, int, low=1, high=500),
            ),
            llm=LlmConfig(
                vision_model=vision_model,
                answer_model=env.text("FOLIO_ANSWER_MODEL", vision_model),
                timeout_s=env.number("FOLIO_OPENAI_TIMEOUT_S", 60.0, float, low=1),
                max_retries=env.number("FOLIO_OPENAI_MAX_RETRIES", 3, int, low=0, high=10),
                concurrency=env.number("FOLIO_OPENAI_CONCURRENCY", 4, int, low=1, high=64),
                max_captions_per_document=env.number("FOLIO_MAX_CAPTIONS", 20, int, low=0),
            ),
        )

    @property
    def captions(self) -> bool:
        """True when figures get vision-model captions (a key is set and captions are wanted)."""
        return self.openai_api_key is not None and self.llm.max_captions_per_document > 0

    @property
    def embedded_index(self) -> bool:
        """True when vectors live in the in-process Qdrant Edge store."""
        return self.qdrant_url is None

    @property
    def qdrant_path(self) -> Path:
        """Where the embedded Qdrant Edge shard lives."""
        return self.data_dir / "qdrant"

    def describe(self) -> list[tuple[str, str]]:
        """(name, value) pairs for `folio doctor`, secrets masked."""
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = "(unset)" if value is None else str(value)
            rows.append((f.name, redact_url(shown) if f.name == "database_url" else shown))
        return rows

    def __repr__(self) -> str:
        # database_url may hold a password: shown redacted, never raw.
        shown = ", ".join(f"{name}={value}" for name, value in self.describe())
        return f"Settings({shown})"


class _Env:
    """Typed reads from an environment mapping; each failure names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def secret(self, name: str, prefix: str = "") -> Secret | None:
        value = self._raw(name)
        if value is None:
            return None
        if prefix and not value.startswith(prefix):
            raise ConfigError(
                detail=f"{name} must start with {prefix!r}; copy it again from Slack."
            )
        return Secret(value)

    def items(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._raw(name)
        if value is None:
            return default
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def number(
        self,
        name: str,
        default: T,
        kind: Callable[[str], T],
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> T:
        value = self._raw(name)
        if value is None:
            return default
        try:
            parsed = kind(value)
        except ValueError:
            raise ConfigError(detail=f"{name} must be a number, not {value!r}.") from None
        number = float(parsed)  # type: ignore[arg-type]
        if not math.isfinite(number):
            raise ConfigError(detail=f"{name} must be a finite number, not {value!r}.")
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise ConfigError(detail=f"{name} must be {bounds}, not {value}.")
        return parsed

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (self._raw(name) or default).upper()
        if value not in allowed:
            raise ConfigError(detail=f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
        return value

    def url(self, name: str, default: str) -> str:
        return self.optional_url(name) or default

    def optional_url(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(detail=f"{name} must be an http(s) URL, not {value!r}.")
        return value


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parsed = urlparse(url)
    if not parsed.password:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _old_versions(value: str) -> OldVersions:
    return "keep" if value == "KEEP" else "drop"


def _precision(value: str) -> Precision:
    for precision in PRECISIONS:
        if value.strip().lower() == precision:
            return precision
    raise ConfigError(
        detail=f"FOLIO_EMBED_PRECISION must be one of {', '.join(PRECISIONS)}, not {value!r}."
    )


_BACKEND_NAMES = tuple(backend.upper() for backend in BACKENDS)


def _backend(value: str) -> Backend:
    return BACKENDS[_BACKEND_NAMES.index(value)]


def _default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'folio.db').as_posix()}"
