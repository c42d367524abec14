"""What ``manygil.serve`` calls: the WSGI and ASGI sides of a worker interpreter
(``worker``, ``asgi``, ``websocket``), the access log and log setup (``logs``), the
supervisor process (``supervisor``), ``--reload`` (``reload``) and what those share about
the options (``options``). This file imports nothing."""
