"""Commands of ``python -m manygil`` that are no public module of their own: ``demo``.
(``bench``, ``check`` and ``serve`` are ``manygil.bench``, ``manygil.check`` and
``manygil.serve``, which users import too.) This file imports nothing."""
