"""Every error folio raises on purpose, each with a ``user_message``.

The tree::

    FolioError                       base; ``user_message`` is safe to show a user
    ├── ConfigError                  a setting is missing or malformed (developer-facing)
    │   └── StaleIndex               the index was built by other models: run folio reindex
    ├── DocumentError                a file cannot be indexed
    │   ├── UnsupportedFile          not a format folio reads
    │   ├── ConverterMissing         an Office file, but LibreOffice is not installed
    │   ├── EncryptedDocument        password-protected PDF
    │   ├── CorruptDocument          truncated or unreadable bytes
    │   ├── EmptyDocument            a PDF with no pages
    │   ├── FileTooLarge             over the byte cap
    │   ├── PageTooLarge             a page or image too big to render safely
    │   ├── TooManyPages             over the page cap
    │   ├── ParseTimeout             the parser ran past its time limit
    │   └── ParseCrashed             the parser died (memory limit, crash)
    ├── DownloadError                a Slack file could not be fetched safely
    │   ├── ForbiddenFileHost        the URL is not on an allowed Slack file host
    │   ├── LoginPageInsteadOfFile   Slack answered with an HTML page (token or scope)
    │   └── DownloadUnavailable      Slack's file servers failed or could not be reached (retried)
    ├── StoreError                   a database or vector store problem
    │   ├── StoreLocked              another process holds the embedded store
    │   ├── IndexUnavailable         the vector index cannot be reached or failed
    │   │   └── IndexBehind          the index owner has not applied this process's writes yet
    │   ├── DuplicateDocument        another process recorded the same file first (retried)
    │   └── LeaseLost                another worker took over a job after this one's lease ran out
    ├── ModelError                   the vision/answer model failed
    │   ├── ModelTimeout             it did not answer within the limit
    │   ├── ModelRateLimited         it kept answering 429
    │   └── ModelUnavailable         it kept failing (5xx, connection errors)
    ├── ChatError                    the chat platform (Slack) refused or failed a call
    │   └── PageImagesNotUploaded    the cited pages could not be attached (the answer stands)
    ├── DocumentNotFound             no such document visible here
    ├── AmbiguousDocument            several visible documents match; the user picks one
    └── NotAllowed                   the user may not do this

Third-party exceptions are translated once, in the module that owns the client,
with ``raise SomeFolioError(...) from exc``: the stores in ``rag.db`` and ``rag.index``,
the model in ``rag._llm``, and Slack's Web API in the bot's gateway (``bot/gateway.py``).
"""

from __future__ import annotations


class FolioError(Exception):
    """Base of folio's errors; ``user_message`` says what happened and what to do next."""

    default_message = "Something went wrong in folio; please try again."

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        self.user_message = user_message or self.default_message
        self.detail = detail
        super().__init__(detail or self.user_message)


class ConfigError(FolioError):
    """A setting is missing or malformed; never shown in Slack."""


class StaleIndex(ConfigError):
    """The vector index was built with other models than the configured ones."""


class DocumentError(FolioError):
    """A file cannot be indexed."""

    default_message = "That file could not be indexed."


class UnsupportedFile(DocumentError):
    """Not a format folio reads."""


class ConverterMissing(DocumentError):
    """An Office file, but the LibreOffice that converts it is not installed."""


class EncryptedDocument(DocumentError):
    """The PDF is password-protected."""


class CorruptDocument(DocumentError):
    """The bytes are truncated or not what the name says."""


class EmptyDocument(DocumentError):
    """The document has no pages."""


class FileTooLarge(DocumentError):
    """The file is over the size cap."""


class PageTooLarge(DocumentError):
    """A page or image is too large to render safely."""


class TooManyPages(DocumentError):
    """The document is over the page cap."""


class ParseTimeout(DocumentError):
    """The parser ran past its time limit and was stopped."""


class ParseCrashed(DocumentError):
    """The parser process died (memory limit or a crash)."""


class DownloadError(FolioError):
    """A Slack file could not be downloaded safely."""

    default_message = "folio could not download that file from Slack."


class ForbiddenFileHost(DownloadError):
    """The file URL is not on an allowed Slack file host."""


class LoginPageInsteadOfFile(DownloadError):
    """Slack answered the download with an HTML page instead of the file."""


class DownloadUnavailable(DownloadError):
    """Slack's file servers failed (5xx) or could not be reached; worth retrying later."""


class StoreError(FolioError):
    """A database or vector store problem."""

    default_message = "folio's storage is unavailable right now; please try again shortly."


class StoreLocked(StoreError):
    """Another process holds the embedded store."""


class IndexUnavailable(StoreError):
    """The vector index cannot be reached or failed."""


class IndexBehind(IndexUnavailable):
    """A worker's points wait in the outbox: the process owning the index has not applied them.

    The job is handed back unspent, to be confirmed once the points are searchable.
    """


class DuplicateDocument(StoreError):
    """Another process recorded the same file in the same channel first.

    A StoreError, so a job runner retries it; the retry finds the document by hash.
    """

    default_message = "That file is already indexed in this channel."


class LeaseLost(StoreError):
    """A job's lease ran out and another worker claimed it: this worker's update was refused.

    The worker that lost the lease stops without telling anyone; the new holder reports.
    """


class ModelError(FolioError):
    """The vision/answer model failed."""

    default_message = "The answer model is unavailable right now; please try again in a minute."


class ModelTimeout(ModelError):
    """The model did not answer within the time limit."""


class ModelRateLimited(ModelError):
    """The model kept answering 429."""


class ModelUnavailable(ModelError):
    """The model kept failing with server or connection errors."""


class ChatError(FolioError):
    """The chat platform refused or failed a call; ``code`` is its error name, if it gave one."""

    default_message = (
        "Sorry, folio hit an unexpected problem talking to Slack; please try again in a minute."
    )

    def __init__(
        self,
        user_message: str | None = None,
        *,
        detail: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(user_message, detail=detail)
        self.code = code


class PageImagesNotUploaded(ChatError):
    """The cited pages could not be attached to the answer (which was posted)."""

    default_message = "folio could not attach the page images; the answer above still stands."


class DocumentNotFound(FolioError):
    """No such document is visible from here."""

    default_message = "No such document is indexed here; `/folio docs` lists what is."


class AmbiguousDocument(FolioError):
    """Several visible documents match a name; the user says which one by its id.

    ``candidates`` are the matching documents (rag.types.Document), newest first.
    """

    default_message = "Several documents match that name; name one by its id (see `/folio docs`)."

    def __init__(self, candidates: tuple[object, ...], *, detail: str | None = None) -> None:
        super().__init__(detail=detail)
        self.candidates = candidates


class NotAllowed(FolioError):
    """The user may not do this."""

    default_message = "You are not allowed to do that."
