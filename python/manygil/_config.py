"""``manygil.InterpreterConfig``: how an interpreter is set up (the fields of CPython's
``PyInterpreterConfig``), with two named presets:

- ``"isolated"`` (the default): its own GIL and allocator, so interpreters run in
  parallel; only extension modules that declare per-interpreter-GIL support import; threads
  but no daemon threads; no ``os.fork`` or ``os.exec*``. CPython's own default
  (``concurrent.interpreters``).
- ``"legacy"``: the main interpreter's GIL and allocator and no extension check, as
  ``Py_NewInterpreter`` (mod_wsgi) gives: most single-phase extension modules import (some,
  numpy and Cython-built ones, only in the first interpreter of the process), but
  interpreters never run Python code at the same time. CPython's ``"legacy"`` config.

The settings are checked (by the native module, which builds CPython's struct from them)
when the object is made: a combination CPython refuses raises ``ValueError`` naming the
fields, before any interpreter is created. docs/configs.md compares the presets.
"""

from __future__ import annotations

__all__ = ["InterpreterConfig"]

# The order in which the settings cross to the native module (interp/config.rs: FIELDS).
FIELDS = (
    "gil",
    "use_main_obmalloc",
    "check_multi_interp_extensions",
    "allow_fork",
    "allow_exec",
    "allow_threads",
    "allow_daemon_threads",
)

_PRESETS = {
    "isolated": ("own", False, True, False, False, True, False),
    "legacy": ("shared", True, False, False, False, True, False),
}


class _Inherited:
    """The default of an :class:`InterpreterConfig` field: the base preset's value."""

    __slots__ = ()

    def __repr__(self):
        return "<from preset>"


_INHERITED = _Inherited()


class InterpreterConfig:
    """The settings of an interpreter: CPython's ``PyInterpreterConfig``, frozen.

    ``InterpreterConfig(preset="isolated", /, **fields)`` starts from a preset
    (``"isolated"`` or ``"legacy"``) and changes the fields given:

    - ``gil``: ``"own"`` (runs in parallel with every other interpreter) or ``"shared"``
      (the main interpreter's GIL: only one such interpreter, or the main one, runs Python
      code at a time).
    - ``use_main_obmalloc``: objects come from the main interpreter's allocator. Needs
      ``gil="shared"``.
    - ``check_multi_interp_extensions``: refuse extension modules that do not declare
      support for this kind of interpreter. ``False`` needs ``use_main_obmalloc=True``
      (and so ``gil="shared"``).
    - ``allow_fork``: ``os.fork()`` passes CPython's check. manygil still refuses it while
      any of its interpreters lives (CPython crashes such a child, gh-139759): the
      setting only changes which ``RuntimeError`` is raised.
    - ``allow_exec``: ``os.execv()`` and friends may replace the process. ``subprocess``
      works either way (CPython always allows fork+exec).
    - ``allow_threads``: ``threading`` may start threads.
    - ``allow_daemon_threads``: ``threading`` may start daemon threads. When the
      interpreter ends, CPython 3.14+ leaves such threads parked for good; on 3.13 (which
      would abort the process) manygil waits for them, as for other threads.

    ``InterpreterConfig.preset(name)`` is the same as ``InterpreterConfig(name)``;
    ``InterpreterConfig.ISOLATED`` and ``InterpreterConfig.LEGACY`` are the presets;
    ``config.replace(**fields)`` derives a new config (``copy.replace`` works too).
    Instances compare and hash by value and pickle.

    Raises:
        TypeError: a field has the wrong type (``gil`` not a str, a flag not a bool), or
            an unknown field name is given.
        ValueError: an unknown preset or ``gil`` value, or a combination CPython refuses
            (``gil="own"`` with ``use_main_obmalloc=True`` or with
            ``check_multi_interp_extensions=False``; ``check_multi_interp_extensions=False``
            with ``use_main_obmalloc=False``).
    """

    __slots__ = FIELDS

    ISOLATED: InterpreterConfig
    LEGACY: InterpreterConfig

    def __init__(
        self,
        preset: str = "isolated",
        /,
        *,
        gil: str = _INHERITED,  # type: ignore[assignment]
        use_main_obmalloc: bool = _INHERITED,  # type: ignore[assignment]
        check_multi_interp_extensions: bool = _INHERITED,  # type: ignore[assignment]
        allow_fork: bool = _INHERITED,  # type: ignore[assignment]
        allow_exec: bool = _INHERITED,  # type: ignore[assignment]
        allow_threads: bool = _INHERITED,  # type: ignore[assignment]
        allow_daemon_threads: bool = _INHERITED,  # type: ignore[assignment]
    ):
        given = (
            gil,
            use_main_obmalloc,
            check_multi_interp_extensions,
            allow_fork,
            allow_exec,
            allow_threads,
            allow_daemon_threads,
        )
        base = _preset_values(preset)
        values = tuple(b if v is _INHERITED else v for b, v in zip(base, given, strict=True))
        _check(values)
        for name, value in zip(FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    @classmethod
    def preset(cls, name: str) -> InterpreterConfig:
        """The preset called ``name``: ``"isolated"`` or ``"legacy"`` (ValueError
        otherwise, TypeError if it is not a str)."""
        return cls(name)

    def replace(self, **fields) -> InterpreterConfig:
        """A copy with ``fields`` changed, checked as a new config is (TypeError for an
        unknown field name or a wrong type, ValueError for a refused combination)."""
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise TypeError(
                f"InterpreterConfig has no field {', '.join(map(repr, unknown))}; "
                f"its fields are {', '.join(FIELDS)}"
            )
        return _from_values(tuple(fields.get(n, getattr(self, n)) for n in FIELDS))

    __replace__ = replace

    @property
    def name(self) -> str | None:
        """The preset these settings are (``"isolated"``, ``"legacy"``), or None."""
        values = self._values()
        for name, preset in _PRESETS.items():
            if values == preset:
                return name
        return None

    @classmethod
    def _from_values(cls, values: tuple) -> InterpreterConfig:
        """The config of a settings tuple in ``FIELDS`` order (checked)."""
        return _from_values(values)

    def _values(self) -> tuple:
        """The settings in ``FIELDS`` order (what the native module takes)."""
        return tuple(getattr(self, n) for n in FIELDS)

    def __setattr__(self, name, value):
        raise AttributeError(
            f"InterpreterConfig is frozen: use config.replace({name}=...) for a changed copy"
        )

    def __delattr__(self, name):
        raise AttributeError("InterpreterConfig is frozen")

    def __eq__(self, other):
        if not isinstance(other, InterpreterConfig):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __reduce__(self):
        return (_from_values, (self._values(),))

    def __repr__(self):
        # The preset it differs least from, and what differs: InterpreterConfig('legacy'),
        # InterpreterConfig('legacy', allow_exec=False); evaluates to an equal config.
        values = self._values()
        best = min(
            _PRESETS, key=lambda p: sum(a != b for a, b in zip(_PRESETS[p], values, strict=True))
        )
        changes = [
            f"{n}={v!r}" for n, b, v in zip(FIELDS, _PRESETS[best], values, strict=True) if b != v
        ]
        return f"{type(self).__name__}({', '.join([repr(best), *changes])})"


def _preset_values(name) -> tuple:
    if not isinstance(name, str):
        raise TypeError(f"an interpreter config preset is a str, not {type(name).__name__}")
    try:
        return _PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown interpreter config preset {name!r}; the presets are "
            f"{', '.join(map(repr, _PRESETS))}"
        ) from None


def _check(values: tuple) -> None:
    """Raise TypeError/ValueError, naming the fields, if the native module would refuse
    these settings (it owns the rules: ``interp/config.rs``, ``ffi/interp_config.rs``)."""
    from . import _native

    _native.check_config(values)


def _from_values(values: tuple) -> InterpreterConfig:
    """The config of a settings tuple in ``FIELDS`` order (checked)."""
    self = InterpreterConfig.__new__(InterpreterConfig)
    _check(values)
    for name, value in zip(FIELDS, values, strict=True):
        object.__setattr__(self, name, value)
    return self


def coerce(config, what: str = "config") -> InterpreterConfig:
    """What ``create(config=)``, ``Pool(config=)`` and ``serve`` accept: None (the
    default, "isolated"), a preset name or an InterpreterConfig."""
    if config is None:
        return InterpreterConfig.ISOLATED
    if isinstance(config, InterpreterConfig):
        return config
    if isinstance(config, str):
        return InterpreterConfig(config)
    raise TypeError(
        f"{what} must be an InterpreterConfig, a preset name "
        f"({', '.join(map(repr, _PRESETS))}) or None, not {type(config).__name__}"
    )


InterpreterConfig.ISOLATED = InterpreterConfig("isolated")
InterpreterConfig.LEGACY = InterpreterConfig("legacy")
