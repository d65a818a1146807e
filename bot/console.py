"""The `folio` console script: rag's commands plus `folio serve` and `folio worker`.

Only what parsing the command line needs is imported here: `folio ingest`, `eval` and the
other batch commands never load the Slack adapter (slack_bolt, aiohttp, the bot's
renderers: ~3 s of a batch command's start on 2 cores); ``serve`` and ``worker`` import
bot.cli when they run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from rag import Settings, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run `folio` with ``argv`` (default: the process's); the exit status."""
    return run_cli(argv, commands=(ServeCommand(), WorkerCommand()))


def script() -> NoReturn:
    """The `folio` console script: ``main``, then out without the interpreter's teardown.

    A finished command has closed everything it opened (stores, databases, children);
    what is left is Python tearing down torch, transformers and thousands of modules,
    ~1.5 s of a core after `folio ingest` loaded the models. Output is flushed first.
    """
    code = main(sys.argv[1:])
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a reader that left (`folio docs | head`) or a closed stream
    os._exit(code)


class ServeCommand:
    """`folio serve`: the Slack bot (the same as `python -m bot`)."""

    name = "serve"
    help = "run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on $PORT)"
    long_running = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """No options: everything comes from the environment."""

    async def run(self, settings: Settings, args: argparse.Namespace) -> int:
        """Serve until stopped."""
        from bot.cli import serve

        return await serve(settings)


class WorkerCommand:
    """`folio worker`: index shared files from the job queue (PostgreSQL + Qdrant server)."""

    name = "worker"
    help = "run the ingestion worker only (for deployments on PostgreSQL and a Qdrant server)"
    long_running = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """No options: everything comes from the environment."""

    async def run(self, settings: Settings, args: argparse.Namespace) -> int:
        """Work until stopped."""
        from bot.cli import work

        return await work(settings)
