"""The `folio` console script: rag's commands plus `folio serve` and `folio worker`.

Only what parsing the command line needs is imported here: `folio ingest`, `eval` and the
other batch commands never load the Slack adapter (slack_bolt, aiohttp, the bot's
renderers: ~3 s of a batch command's start on 2 cores); ``serve`` and ``worker`` import
bot.cli when they run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rag import Settings, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `folio` console script."""
    return run_cli(argv, commands=(ServeCommand(), WorkerCommand()))


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
