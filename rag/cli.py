"""The `folio` command: ingest, search, ask, docs, forget, eval, feedback export, db upgrade,
doctor.

``run_cli`` takes further commands from the caller: the Slack adapter's console script
(``bot.cli.main``) adds ``serve`` and ``worker``, so rag never imports the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from dotenv import dotenv_values

from rag.answer._citations import best_excerpt, key_terms
from rag.errors import ConfigError, DocumentNotFound, FolioError
from rag.ingest._files import SUPPORTED_SUFFIXES, expand_paths, read_file
from rag.settings import Settings
from rag.types import Audience, QueryImage, Scope, page_label

logger = logging.getLogger("folio")

# At most how many files `folio ingest` reads and parses while it loads the models: the
# parse child has the other core to itself until they are loaded (~7 s of imports and
# loading on 2 cores; four financebench filings parsed in ~4 s and left it idle for ~3 s).
_PARSED_BEFORE_MODELS = 16

DESCRIPTION = "folio answers questions about the documents your team shares, with evidence."

Handler = Callable[[Settings, argparse.Namespace], Awaitable[int]]


class Command(Protocol):
    """A subcommand another package adds to `folio` (see ``run_cli``).

    ``long_running`` commands (services) log at FOLIO_LOG_LEVEL; one-shot commands keep the
    terminal for their output.
    """

    name: str
    help: str
    long_running: bool

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the subcommand's options."""

    async def run(self, settings: Settings, args: argparse.Namespace) -> int:
        """Run it; returns the exit code."""


def run_cli(argv: Sequence[str] | None = None, *, commands: Sequence[Command] = ()) -> int:
    """Run `folio` with ``argv`` (default: the process's) and the extra ``commands``."""
    parser = _parser(commands)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(settings, args, long_running=getattr(args, "long_running", False))
        return int(asyncio.run(args.handler(settings, args)))
    except FolioError as exc:
        print(f"folio: {_sentence(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `folio docs | head`: the reader left early, which is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _configure_logging(settings: Settings, args: argparse.Namespace, *, long_running: bool) -> None:
    # Services log at FOLIO_LOG_LEVEL; one-shot commands keep the terminal for their output.
    # basicConfig leaves a process that already configured logging (a test run) alone.
    if args.verbose:
        level = logging.DEBUG
    elif long_running:
        level = logging.getLevelName(settings.log_level)
    else:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def load_settings(environ: dict[str, str] | None = None, env_file: Path = Path(".env")) -> Settings:
    """Settings from the environment, with ``.env`` filling what the environment leaves unset."""
    values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update(os.environ if environ is None else environ)
    return Settings.from_env(values)


def _sentence(exc: FolioError) -> str:
    return exc.detail if isinstance(exc, ConfigError) and exc.detail else exc.user_message


def _parser(extra: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="folio", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = _command(
        commands, "ingest", _ingest, "index files: PDFs, Office, text, pictures (folders recurse)"
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _scope_options(ingest, private=True)

    search = _command(commands, "search", _search, "list the best-matching pages")
    search.add_argument("question")
    search.add_argument("--image", type=Path, action="append", default=[])
    search.add_argument("--limit", type=int, default=None)
    _scope_options(search)

    ask = _command(commands, "ask", _ask, "answer a question with cited sources")
    ask.add_argument("question")
    ask.add_argument("--image", type=Path, action="append", default=[])
    ask.add_argument("--out", type=Path, help="write the cited pages, highlighted, here")
    _scope_options(ask)

    docs = _command(commands, "docs", _docs, "list indexed documents")
    _scope_options(docs)
    forget = _command(commands, "forget", _forget, "remove a document from the index")
    forget.add_argument("document", help="document id (or its first 8 characters) or file name")
    _scope_options(forget)

    evaluate = _command(commands, "eval", _eval, "measure retrieval on a QA set")
    evaluate.add_argument("--qa", type=Path, required=True)
    evaluate.add_argument("--docs", type=Path, required=True)
    evaluate.add_argument("--out", type=Path)

    reindex = _command(
        commands, "reindex", _reindex, "rebuild every vector after a model change (resumable)"
    )
    reindex.add_argument(
        "--all", action="store_true", help="rebuild even when the models did not change"
    )

    feedback = commands.add_parser("feedback", help="what people said about folio's answers")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True)
    export = feedback_commands.add_parser(
        "export", help="the voted answers as a QA set for `folio eval` (JSON Lines)"
    )
    export.set_defaults(handler=_feedback_export)
    export.add_argument("--out", type=Path, help="write here instead of standard output")
    export.add_argument("--team", help="only this workspace's answers")
    export.add_argument("--days", type=int, default=None, help="only the last N days")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate to the latest schema").set_defaults(
        handler=_db_upgrade
    )
    _command(commands, "doctor", _doctor, "check configuration, models and stores")
    for command in extra:
        sub = commands.add_parser(command.name, help=command.help)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run, long_running=command.long_running)
    return parser


def _command(commands: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
    sub.set_defaults(handler=handler)
    return sub


def _scope_options(parser: argparse.ArgumentParser, *, private: bool = False) -> None:
    parser.add_argument("--team", default="local", help="workspace id (default: local)")
    parser.add_argument("--channel", default="local", help="channel id (default: local)")
    if private:
        parser.add_argument(
            "--private", action="store_true", help="visible only in --channel, as a private channel"
        )


def _audience(args: argparse.Namespace) -> Audience:
    return Audience(team_id=args.team, channel_id=args.channel)


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rag.embed.clip import configured_input_side
    from rag.ingest._child import INGEST_NICE
    from rag.ingest._isolate import ChildPool
    from rag.ingest._parse import parse_document
    from rag.ingest._pipeline import IngestSource, ParseAhead, parse_limits

    files = expand_paths(args.paths)
    if not files:
        suffixes = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise ConfigError(detail=f"No supported files found (looked for {suffixes}).")
    scope = Scope(team_id=args.team, channel_id=args.channel, channel_private=args.private)
    failed = added = 0
    limit = settings.parse.max_bytes
    sources = [IngestSource(path.name, partial(read_file, path, limit)) for path in files]
    paths = iter(files)
    # The first files parse in a child while this process imports and loads the models;
    # that child parses the rest too, behind the models once they are loaded.
    side = configured_input_side(settings.clip_model)
    limits = parse_limits(settings.parse, input_side=side, captions=settings.captions)
    pool = ChildPool(size=1, memory_mb=limits.memory_mb)
    ahead = ParseAhead(partial(parse_document, pool=pool), limits)
    ahead.start(sources[:_PARSED_BEFORE_MODELS])
    try:
        # Imported off the event loop (torch and the stores take seconds): the parse
        # child above is started and watched from the loop meanwhile.
        await asyncio.to_thread(importlib.import_module, "rag._services")
        from rag._services import open_services

        async with open_services(settings) as services:
            ahead.stop()
            pool.renice(INGEST_NICE)
            with tqdm(total=len(files), unit="file", desc="ingest") as bar:
                # Results come in order; each file is parsed while the one before embeds.
                ingestor = services.ingestor
                results = ingestor.ingest_many(sources, scope=scope, ahead=ahead, pool=pool)
                async for source, result in results:
                    path = next(paths)
                    bar.update()
                    bar.set_postfix_str(source.file_name[:40])
                    if isinstance(result, FolioError):
                        failed += 1
                        bar.write(f"✗ {path}: {result.user_message}")
                        continue
                    added += result.created
                    doc = result.document
                    verb = "indexed" if result.created else "already indexed"
                    bar.write(
                        f"✓ {path.name}: {verb}, {doc.page_count} pages, {doc.figure_count} figures"
                    )
    finally:
        await ahead.close()
        await pool.close()
    print(f"{added} added, {len(files) - added - failed} unchanged, {failed} failed")
    return 1 if failed else 0


async def _search(settings: Settings, args: argparse.Namespace) -> int:
    from rag._services import open_services

    images = [read_file(path, settings.parse.max_bytes) for path in args.image]
    async with open_services(settings) as services:
        pages = await services.retriever.search(
            args.question, audience=_audience(args), images=images, limit=args.limit
        )
    if not pages:
        print("No matching pages.")
    terms = key_terms(args.question)
    for rank, page in enumerate(pages, 1):
        snippet = best_excerpt(page.passage, terms, size=160)[0]
        where = page_label(page.file_name, page.page_number, short=True)
        print(f"{rank:>2}. {page.file_name}  {where}  score {page.score:.4f}")
        if snippet:
            print(f"    {snippet}")
    return 0


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    from rag._services import open_services

    images = [QueryImage(read_file(p, settings.parse.max_bytes), p.name) for p in args.image]
    async with open_services(settings) as services:
        pages = services.pages.batch()  # each document read, each page rendered, once
        answer = await services.answerer.answer(
            args.question, audience=_audience(args), images=images, pages=pages
        )
        print(answer.text)
        if answer.citations:
            print("\nSources:")
        for citation in answer.citations:
            print(f"  [{citation.number}] {citation.file_name}, {citation.page_label}")
            if args.out is None:
                continue
            png = await pages.page_png(citation.document_id, citation.page_number, citation.bboxes)
            if png is not None:
                args.out.mkdir(parents=True, exist_ok=True)
                stem = Path(citation.file_name).stem
                target = args.out / f"{citation.number}-{stem}-p{citation.page_number}.png"
                target.write_bytes(png)
                print(f"      wrote {target}")
    return 0


async def _docs(settings: Settings, args: argparse.Namespace) -> int:
    from rag._services import open_services

    async with open_services(settings) as services:
        documents = await services.catalog.visible(_audience(args))
    if not documents:
        print("No documents indexed yet; add some with `folio ingest PATH`.")
    for doc in documents:
        where = f"{doc.scope.channel_id}{' (private)' if doc.scope.channel_private else ''}"
        old = "  (superseded by a newer version)" if doc.superseded else ""
        print(f"{doc.id[:8]}  {doc.file_name}  {doc.page_count} pages  {where}{old}")
    return 0


async def _forget(settings: Settings, args: argparse.Namespace) -> int:
    from rag._services import open_services

    async with open_services(settings) as services:
        document = await services.catalog.find_visible(_audience(args), args.document)
        if document is None:
            raise DocumentNotFound(f"No indexed document matches {args.document!r}.")
        await services.ingestor.forget(document.id)
    print(f"Forgot {document.file_name} ({document.id[:8]}).")
    return 0


async def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from rag._evaluate import evaluate

    report = await evaluate(settings, qa_path=args.qa, docs_dir=args.docs, out_dir=args.out)
    print(json.dumps(report, indent=2))
    return 0


async def _reindex(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rag._reindex import reindex

    with tqdm(unit="doc", desc="reindex", total=0) as bar:

        def progress(done: int, total: int, name: str) -> None:
            bar.total, bar.n = total, done
            bar.set_postfix_str(name[:40])
            bar.refresh()

        report = await reindex(settings, rebuild_all=args.all, progress=progress)
    for name, why in report.failed:
        print(f"✗ {name}: {why}")
    if report.failed:
        print(
            f"{len(report.failed)} documents could not be re-indexed, so the index still "
            "answers with the previous models; share them again or `folio forget` them, "
            "then run `folio reindex` again."
        )
        return 1
    verb = "Switched to" if report.switched else "Up to date with"
    print(f"{verb} {report.models.describe()}: {report.total} documents, {report.rebuilt} rebuilt.")
    for store in report.kept:
        print(f"The old vectors in {store} are still in use; restart folio to free them.")
    if report.switched:
        print("Restart running folio processes (serve, worker) so they use the new models.")
    return 0


async def _feedback_export(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from rag._feedback import write_eval_set
    from rag._services import open_services

    since = datetime(2000, 1, 1, tzinfo=UTC)
    if args.days is not None:
        since = datetime.now(UTC) - timedelta(days=args.days)
    async with open_services(settings) as services:
        voted = await services.folio.questions.voted(since=since, team_id=args.team)
    if args.out is None:
        exported = write_eval_set(voted, sys.stdout)
    else:
        with args.out.open("w", encoding="utf-8") as out:
            exported = write_eval_set(voted, out)
    where = f" to {args.out}" if args.out else ""
    skipped = f"; {exported.uncited} voted answers cited no page" if exported.uncited else ""
    print(f"Wrote {exported.written} voted questions{where}{skipped}.", file=sys.stderr)
    return 0


async def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from rag.db.migrate import aupgrade_database, head_revision

    await aupgrade_database(settings.database_url)
    print(f"Database is at revision {head_revision()}.")
    return 0


async def _doctor(settings: Settings, args: argparse.Namespace) -> int:
    from rag._doctor import run_checks

    ok = True
    for check in await run_checks(settings):
        ok &= check.ok or not check.required
        print(f"{check.mark} {check.name}: {check.detail}")
    return 0 if ok else 1
