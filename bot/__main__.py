"""``python -m bot``: run the bot; ``python -m bot generate ...``: the command-line generator."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
