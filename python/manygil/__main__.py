"""``python -m manygil <command> [options]``; ``python -m manygil`` alone lists the commands.

Each command lives in its own module with a ``main(argv) -> int`` function, imported only
when that command runs. Adding a command is one entry in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

# name -> (module, one-line help). The module (relative to this package) defines
# ``main(argv: list[str]) -> int``; it is imported only when its command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": (".bench.cli", "measure threads, processes and manygil on this machine"),
    "demo": ("._cli.demo", "CPU-bound Python in parallel interpreters next to threads"),
    "check": (".check", "import modules in own-GIL interpreters: ok, degraded, refused or error"),
    "serve": (".serve", "serve a WSGI or ASGI application with requests in own-GIL interpreters"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: python -m manygil <command> [options]",
        "       python -m manygil --version",
        "",
        "commands:",
        *(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()),
        "",
        "`python -m manygil <command> --help` describes a command's options.",
    ]
    return "\n".join(lines) + "\n"


def version() -> str:
    from . import __version__

    return f"manygil {__version__}"


def command_main(name: str) -> Callable[[list[str]], int]:
    """The ``main`` function of command ``name`` (imports its module)."""
    module, _ = COMMANDS[name]
    return importlib.import_module(module, __package__).main


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m manygil`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage(), end="")
        return 0
    command, rest = args[0], args[1:]
    if command in ("-V", "--version"):
        print(version())
        return 0
    if command not in COMMANDS:
        print(
            f"python -m manygil: unknown command {command!r} "
            f"(choose from {', '.join(COMMANDS)})\n\n{usage()}",
            end="",
            file=sys.stderr,
        )
        return 2
    return command_main(command)(rest)


if __name__ == "__main__":
    sys.exit(main())
