"""`python -m bot`: the same as `folio serve`."""

from __future__ import annotations

import sys

from bot.console import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
