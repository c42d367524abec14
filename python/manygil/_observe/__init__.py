"""What pools and servers share for looking inside (issue 24): the workers' log records
handled by the main interpreter's logging (``logs``), snapshots of what each worker runs
(``inspect``, behind ``manygil.snapshot_all``) and cProfile statistics gathered from the
workers (``profiling``). This file imports nothing."""
