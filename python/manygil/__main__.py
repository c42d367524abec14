"""``python -m manygil <command>``: ``bench`` (compare threads, processes and manygil on
this machine), ``demo`` (a short parallel-CPU demonstration) or ``check`` (which modules
import in own-GIL interpreters)."""

from __future__ import annotations

import sys

USAGE = """usage: python -m manygil {bench,demo,check} [options]

commands:
  bench   measure threads, processes and manygil on this machine (see --help)
  demo    run CPU-bound Python in parallel interpreters next to threads
  check   import modules in own-GIL interpreters: ok, refused or error (see --help)
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "demo":
        from ._demo import main as demo

        return demo(rest)
    if command == "bench":
        from .bench.cli import main as bench

        return bench(rest)
    if command == "check":
        from .check import main as check

        return check(rest)
    print(f"python -m manygil: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
