"""The supervisor of ``python -m manygil serve``: a small parent process that holds the
listening sockets and runs the server in a child process.

It never imports the application and creates no interpreter. It opens the sockets once
(``_native.serve_listen``) and passes them to each server process it starts, as inherited
file descriptors (``--bind fd://N``), with one end of a socket pair (``--supervisor-fd``)
on which the server says ``ready`` once it accepts and ``replace`` once it has too many
stuck interpreters (``--max-stuck``), and whose end of file tells it the supervisor died.

A server process is forked from the supervisor (which has no thread, so forking is safe)
and runs ``manygil.serve.main`` there, rather than a new Python started with ``-m manygil
serve``: it shares the supervisor's Python runtime and the modules the supervisor already
imported (``manygil.serve`` and what it needs) copy-on-write instead of holding its own
copy, 4-5 MiB less for the pair (docs/serve.md, "Memory"). The application is still
imported afresh, in the new process's own interpreters; manygil's own code is the
supervisor's (upgrading manygil itself needs a new supervisor).

- A server process that dies (a signal such as SIGSEGV or SIGKILL, ``os._exit`` in a
  handler, a C extension aborting) is started again on the same sockets: connections
  arriving meanwhile wait in the kernel's queue of the socket, which the supervisor keeps
  open, and are served by the new process. Only the requests the dead process had
  accepted are lost. Crashes in a row back off (0, 0.5, 1, 2 ... 10 s between restarts),
  until a server process has run for :data:`HEALTHY` seconds.
- SIGHUP (or ``replace`` from the server): start a new server process (the application is
  imported afresh), and once it accepts, stop the old one gracefully (SIGTERM: it finishes
  its in-flight requests). If the new one fails to start, the old one keeps serving.
- SIGTERM / SIGINT: close the sockets (new connections are refused), pass the signal on to
  the server process(es), wait for them, exit 0.
- SIGUSR1: passed on to the server process(es), which print a snapshot of what each worker
  interpreter runs (``manygil._observe.inspect``) on their stderr.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import select
import signal
import socket
import subprocess
import sys
import time

from .. import _native
from .._pool import exit as _exit
from .options import EXIT_STUCK, StartupError, listen_list, passed_to_server

# A server process that ran this long (seconds, since it was ready) before dying resets
# the crash count: the next restart is immediate.
HEALTHY = 10.0
# Delay before the second restart of a crash loop; doubled each time, up to BACKOFF_MAX.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0


# Options not passed on to the server process (it gets the sockets instead).
def _log(msg: str) -> None:
    print(f"manygil serve: {msg}", file=sys.stderr, flush=True)


def describe(returncode: int) -> str:
    """How a process ended, for the log: ``killed by SIGSEGV (Segmentation fault)``."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
            return f"was killed by {sig.name} ({signal.strsignal(sig)})"
        except ValueError:
            return f"was killed by signal {-returncode}"
    if returncode == EXIT_STUCK:
        return f"exited with status {returncode} (too many stuck interpreters)"
    return f"exited with status {returncode}"


class _Forked:
    """A server process forked from the supervisor: what the supervisor uses of
    ``subprocess.Popen`` (``pid``, ``returncode``, ``poll()``, ``send_signal()``)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal) once it has exited, else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


class _Child:
    """One server process and its link to the supervisor."""

    def __init__(self, proc: subprocess.Popen | _Forked, link: socket.socket, why: str):
        self.proc = proc
        self.link: socket.socket | None = link
        self.why = why  # "start", "restart", "reload"
        self.buf = b""
        self.ready_at: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def close_link(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None


class Supervisor:
    """Starts, watches, restarts and reloads server processes on sockets it holds."""

    def __init__(self, command: list[str], fds: list[int], unix_paths: list[str], serve_main):
        self.command = command  # the server process's command, without sockets
        self.serve_main = serve_main  # manygil.serve.main, run by a forked server process
        # What ``manygil.serve.main`` parses in a forked server process: ``command``
        # after ``python [flags] -m manygil serve``.
        self.server_args = command[len(_server_head()) :]
        self.fds = fds
        self.unix_paths = unix_paths
        self.children: list[_Child] = []
        self.current: _Child | None = None  # the ready server process
        self.starting: _Child | None = None  # a server process not ready yet
        self.crashes = 0  # in a row
        self.restart_at: float | None = None
        self.stopping = False
        self.status = 0
        # While run() runs: its wake-up pipe and the signal handlers it replaced (a forked
        # server process closes the one and restores the others).
        self.wake: tuple[int, int] | None = None
        self.previous_handlers: dict = {}

    # ---- server processes --------------------------------------------------------------

    def spawn(self, why: str) -> None:
        ours, theirs = socket.socketpair()
        sockets = ["--supervisor-fd", str(theirs.fileno())]
        for fd in self.fds:
            sockets += ["--bind", f"fd://{fd}"]
        try:
            if _single_threaded():
                proc = self.fork(ours, theirs, [*self.server_args, *sockets])
            else:  # pragma: no cover - the supervisor starts no thread
                proc = subprocess.Popen(
                    [*self.command, *sockets],
                    pass_fds=(*self.fds, theirs.fileno()),
                    # Its own process group: a Ctrl-C in the terminal reaches the supervisor
                    # only, which passes it on once.
                    process_group=0,
                )
        except OSError as e:
            ours.close()
            _log(f"cannot start a server process: {e}")
            self.schedule_restart()
            return
        finally:
            theirs.close()
        child = _Child(proc, ours, why)
        self.children.append(child)
        self.starting = child

    def fork(self, ours: socket.socket, theirs: socket.socket, args: list[str]) -> _Forked:
        """Fork a server process running ``manygil.serve.main(args)``."""
        sys.stdout.flush()
        sys.stderr.flush()
        # Whatever the supervisor holds now is never visited (written to) by the server
        # process's garbage collector, so those pages stay shared between the two.
        gc.collect()
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            self.become_server(ours, theirs, args)  # does not return
        return _Forked(pid)

    def become_server(self, ours: socket.socket, theirs: socket.socket, args: list[str]):
        """In a forked child: drop what belongs to the supervisor, serve, exit."""
        status = 1
        try:
            # Its own process group: a Ctrl-C in the terminal reaches the supervisor only,
            # which passes it on once.
            os.setpgid(0, 0)
            if self.wake is not None:
                signal.set_wakeup_fd(-1)
                for fd in self.wake:
                    os.close(fd)
            for sig, handler in self.previous_handlers.items():
                signal.signal(sig, handler)
            # The supervisor's ends of the links: to this process, and to the server
            # processes still running (each sees the end of its link when the supervisor
            # dies, so no other process may hold a copy).
            ours.close()
            for c in self.children:
                c.close_link()
            theirs.detach()  # its descriptor is now the server's (--supervisor-fd)
            status = self.serve_main(args)
        except SystemExit as e:
            if isinstance(e.code, int) or e.code is None:
                status = e.code or 0
            else:
                print(e.code, file=sys.stderr)
            _exit.note_system_exit(e)
        except BaseException as e:
            # As Python's top level does (manygil's exit hook reads sys.last_exc).
            sys.last_exc = sys.last_value = e
            sys.last_type, sys.last_traceback = type(e), e.__traceback__
            sys.excepthook(type(e), e, e.__traceback__)
            if isinstance(e, KeyboardInterrupt):
                # As Python ends on an uncaught KeyboardInterrupt: killed by SIGINT.
                status = -signal.SIGINT
        finally:
            # The end of a Python program, without unwinding into the supervisor's frames
            # (its clean-up would close the sockets and unlink the Unix socket files).
            try:
                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
                if status == -signal.SIGINT:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    os.kill(os.getpid(), signal.SIGINT)
            finally:
                os._exit(1 if status < 0 else status)

    def schedule_restart(self) -> None:
        """Start a server process after the crash loop's delay."""
        self.crashes += 1
        delay = (
            0.0 if self.crashes == 1 else min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.crashes - 2))
        )
        self.restart_at = time.monotonic() + delay
        if delay:
            _log(f"restarting it in {delay:g} s ({self.crashes} crashes in a row; backing off)")
        else:
            _log("restarting it")

    def on_message(self, child: _Child, line: bytes) -> None:
        if line == b"ready":
            child.ready_at = time.monotonic()
            if child is self.starting:
                self.starting = None
                old, self.current = self.current, child
                if child.why == "reload":
                    if old is not None:
                        _log(
                            f"server process {child.pid} serves the reloaded application; "
                            f"stopping server process {old.pid} gracefully"
                        )
                        old.signal(signal.SIGTERM)
                elif child.why == "restart":
                    _log(f"server process {child.pid} serves again")
        elif line == b"replace":
            if child is self.current and self.starting is None:
                _log(f"starting a fresh server process to replace server process {child.pid}")
                self.spawn("reload")

    def on_exit(self, child: _Child) -> None:
        code = child.proc.returncode
        child.close_link()
        self.children.remove(child)
        if child is not self.current and child is not self.starting:
            # An old server process that was draining.
            _log(f"previous server process {child.pid} {describe(code)}")
            return
        if self.stopping:
            if child is self.current or self.current is None:
                ok = (0, EXIT_STUCK, -signal.SIGTERM, -signal.SIGINT)
                self.status = 0 if code in ok else 1
            return
        if child is self.starting:
            self.starting = None
            if child.why == "start":
                # Could not start (it said why on stderr): nothing to serve.
                if code != 1:
                    _log(f"server process {child.pid} {describe(code)} before it was ready")
                self.status = code if code > 0 else 1
                self.stopping = True
                return
            if child.why == "reload" and self.current is not None:
                _log(
                    f"the new server process {child.pid} {describe(code)} before it was ready; "
                    f"server process {self.current.pid} keeps serving"
                )
                return
            _log(f"server process {child.pid} {describe(code)} before it was ready")
            self.schedule_restart()
            return
        if child is self.current:
            self.current = None
            if child.ready_at is not None and time.monotonic() - child.ready_at >= HEALTHY:
                self.crashes = 0
            _log(f"server process {child.pid} {describe(code)}")
            if self.starting is None:
                self.schedule_restart()

    # ---- signals -------------------------------------------------------------------------

    def on_signal(self, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT):
            if not self.stopping:
                self.stopping = True
                self.restart_at = None
                # New connections are refused once the server processes closed theirs.
                self.close_sockets()
            for c in self.children:
                c.signal(sig)
        elif sig == signal.SIGUSR1:
            # A snapshot of what every worker runs (manygil._observe.inspect), from each server.
            for c in self.children:
                c.signal(sig)
        elif sig == signal.SIGHUP and not self.stopping:
            if self.starting is not None:
                _log("SIGHUP: a server process is already starting; ignored")
            elif self.current is None:
                self.restart_at = time.monotonic()
            else:
                _log(f"SIGHUP: reloading (a new server process replaces {self.current.pid})")
                self.spawn("reload")

    def close_sockets(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        wake_r, wake_w = self.wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        watched = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1)
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in watched}
        self.previous_handlers = previous
        previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        try:
            self.spawn("start")
            while self.children or not self.stopping:
                self.step(wake_r)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
            for c in self.children:
                c.signal(signal.SIGTERM)
            self.close_sockets()
            for path in self.unix_paths:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        return self.status

    def step(self, wake_r: int) -> None:
        timeout = None
        if self.restart_at is not None:
            timeout = max(0.0, self.restart_at - time.monotonic())
        links = [c.link for c in self.children if c.link is not None]
        readable, _, _ = select.select([wake_r, *links], [], [], timeout)
        if wake_r in readable:
            try:
                for sig in os.read(wake_r, 256):
                    self.on_signal(sig)
            except BlockingIOError:
                pass
        for c in list(self.children):
            if c.link is not None and c.link in readable:
                data = c.link.recv(4096)
                if not data:
                    c.close_link()  # exiting: reaped below
                    continue
                c.buf += data
                *lines, c.buf = c.buf.split(b"\n")
                for line in lines:
                    self.on_message(c, line)
        # Reap exited server processes (SIGCHLD wakes us up).
        for c in list(self.children):
            if c.proc.poll() is not None:
                self.on_exit(c)
        if self.restart_at is not None and time.monotonic() >= self.restart_at:
            self.restart_at = None
            if not self.stopping and self.starting is None:
                self.spawn("restart")


def main(parser: argparse.ArgumentParser, args: argparse.Namespace, serve_main) -> int:
    """Supervise ``python -m manygil serve`` with the options ``args``: the exit status.
    ``serve_main(argv)`` (``manygil.serve.main``) runs in each forked server process."""
    try:
        listen = listen_list(args.bind, args.uds)
        opened = _native.serve_listen(listen)
    except (StartupError, OSError, ValueError) as e:
        print(f"manygil serve: {e}", file=sys.stderr)
        return 1
    command = [*_server_head(), args.app, "--no-supervise"]
    for action in parser._actions:
        if not action.option_strings or not passed_to_server(action.dest):
            continue
        value = getattr(args, action.dest)
        if value is None or value == action.default:
            continue
        for v in value if isinstance(value, list) else [value]:  # repeatable options
            command.append(action.option_strings[-1])
            if action.nargs != 0:
                command.append(str(v))
    unix_paths = [b.removeprefix("unix:") for b in listen if b.startswith("unix:")]
    return Supervisor(command, [fd for fd, _ in opened], unix_paths, serve_main).run()


def _server_head() -> list[str]:
    """The start of a server process's command line: ``python [flags] -m manygil serve``."""
    return [sys.executable, *subprocess._args_from_interpreter_flags(), "-m", "manygil", "serve"]


def _single_threaded() -> bool:
    """Whether this process runs one thread (Python's or not): then forking is safe."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # pragma: no cover - Linux has /proc
        return False
