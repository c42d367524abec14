"""``python -m manygil.bench``: the same command as ``python -m manygil bench``."""

import sys

if __name__ == "__main__":  # spawned/forkserver workers re-import __main__: do nothing then
    from manygil.bench.cli import main

    sys.exit(main())
