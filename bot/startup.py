"""What the bot needs before it can start, said in one paragraph when it is missing."""

from __future__ import annotations

from typing import Literal

from rag import ConfigError, Settings

Transport = Literal["socket", "http"]

MISSING_TOKENS = (
    "folio needs a Slack app before it can start. Set SLACK_BOT_TOKEN (the xoxb- Bot User "
    "OAuth Token) and either SLACK_APP_TOKEN (an xapp- app-level token with connections:write, "
    "for Socket Mode) or SLACK_SIGNING_SECRET (for HTTP mode on $PORT), in the environment or "
    "in .env (copy .env.example). To create the app, open https://api.slack.com/apps, choose "
    "Create New App > From an app manifest, paste manifest.yml from this repository, install "
    "it to your workspace, then copy the tokens from OAuth & Permissions and Basic Information "
    "(App-Level Tokens); README.md walks through it. To see folio answer from sample filings "
    "first, without Slack, run `make demo`."
)


def transport(settings: Settings) -> Transport:
    """Socket Mode when an app token is set, else HTTP; missing tokens stop start-up."""
    if settings.slack_bot_token is None:
        raise ConfigError(detail=MISSING_TOKENS)
    if settings.slack_app_token is not None:
        return "socket"
    if settings.slack_signing_secret is None:
        raise ConfigError(detail=MISSING_TOKENS)
    return "http"
