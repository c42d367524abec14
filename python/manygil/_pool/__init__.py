"""What ``manygil.Pool`` calls (and the Dask and joblib integrations through it): the
process workers of ``fallback="process"`` (``fallback``, ``procworkers`` in this process,
``process`` in each worker process), progress bars (``progress``), the exit hook that
closes every interpreter before CPython finalizes (``exit``), and the call wrappers the
integrations send to workers (``calls``). This file imports nothing."""
