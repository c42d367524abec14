"""What the Rust glue calls into Python for, by module and name (the one list of those names
is ``crates/manygil-python/src/runtime/py_names.rs``): pickling what the codec cannot
encode natively and loading it in the receiver (``pickle``, ``unpickle``), the globals of
a function sent as code (``codeglobals``), exceptions as plain records and rebuilt
(``remote``, with ``refusal`` explaining an extension's refusal to load), a SharedBuffer
pickled for another process (``buffer_share``), and the hooks run in every worker as it
starts and ends (``hooks``).

Workers import these: each imports only the standard library, ``manygil._native`` and
its neighbours here, and this file imports nothing.
"""
