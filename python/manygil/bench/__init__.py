"""``python -m manygil bench``: compare serial, threads, processes, sub-interpreters and manygil.

Importing this package imports nothing else, so that worker interpreters can import
:mod:`manygil.bench.scenarios` cheaply. The command lives in :mod:`manygil.bench.cli`.
"""
