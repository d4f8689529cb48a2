"""How the process fails: every failure ends in a documented exit status and one clear line.

* The machine refused a read or a write (disk full, quota, read-only file system, permission
  denied): that is the machine's state, not a bug — status 12, naming the path and what to do.
* Anything else unexpected is a bug — status 70 with a one-line message and the traceback in a
  crash log.  That includes panics of native libraries: pyo3 raises ``PanicException``, a
  ``BaseException`` that is not an ``Exception``, and it must never fall through to a status that
  means success or partial success.

* Ctrl-C (SIGINT) is the user asking the command to stop: status 130, one line, no traceback.  The
  signal raises ``Interrupted`` rather than ``KeyboardInterrupt``, which the command-line
  framework would turn into "Aborted!" and status 1 — the status of a run that rejected rows.  A
  ledger run stopped this way is left as a killed one is (the commit protocol: the run is in the
  ledger whole or not at all; the next run sets its uncommitted files aside).

``SystemExit`` is left to the command-line framework.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

from .status import Exit

log = logging.getLogger("medclaim")

#: What the machine refused, by errno, with what the user can do about it.
REFUSALS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free space on that disk (or use a directory on another disk) and run again"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space within the quota (or use another directory) and run again"),
    errno.EROFS: ("the file system is read-only", "remount it read-write or use a directory on a writable disk, then run again"),
    errno.EACCES: ("permission denied", "give this user access to it (or use another path) and run again"),
    errno.EPERM: ("operation not permitted", "give this user access to it (or use another path) and run again"),
}
#: The same conditions as native libraries (polars, pyarrow) word them, without an errno attribute.
_REFUSAL_TEXT = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
    "Operation not permitted": errno.EPERM,
}
_OS_ERROR_CODE = re.compile(r"os error (\d+)")
_QUOTED_PATH = re.compile(r"""['"](/[^'"]+)['"]""")


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def refusal_errno(exc: BaseException) -> tuple[int, str | None] | None:
    """(errno, path) when ``exc`` (or what caused it) is the machine refusing a read or write."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in REFUSALS:
            return e.errno, e.filename if isinstance(e.filename, str) else None
        if not (isinstance(e, OSError) or type(e).__module__.startswith(("polars", "pyarrow"))):
            continue  # only I/O errors and the native libraries' own errors are read by their text
        text = str(e)
        code = _OS_ERROR_CODE.search(text)
        number = int(code.group(1)) if code and int(code.group(1)) in REFUSALS else None
        number = number or next((n for words, n in _REFUSAL_TEXT.items() if words in text), None)
        if number is not None:
            path = _QUOTED_PATH.search(text)
            return number, path.group(1) if path else None
    return None


def refusal_message(exc: BaseException, where: list[Path | None] | None = None) -> str | None:
    """The message for a refused read or write, or None when ``exc`` is something else.

    ``where``: the paths the command writes (``--out``, ``--ledger``, ``--log-file``), named when
    the error does not say which file it was.
    """
    found = refusal_errno(exc)
    if found is None:
        return None
    number, path = found
    what, todo = REFUSALS[number]
    if path is None:
        named = [str(p) for p in where or [] if p is not None]
        path = " or ".join(named) if named else "a file it reads or writes"
    return f"{path}: {what} ({errno.errorcode.get(number, number)}) — {todo}"


def crash_log(tb: str) -> Path | None:
    """Write the traceback to the temp directory (not the working directory: under cron that may
    be / or the ledger's parent); None when even that fails."""
    crash = Path(tempfile.gettempdir()) / f"medclaim-crash-{os.getpid()}.log"
    try:
        crash.write_text(tb, encoding="utf-8")
        return crash
    except OSError:
        return None


def safe_log(level: int, msg: str) -> None:
    """Log without ever raising or printing a traceback (logging on a full disk must not crash)."""
    raise_exceptions = logging.raiseExceptions
    logging.raiseExceptions = False  # a handler that cannot write drops the record silently
    try:
        log.log(level, msg)
    except Exception:
        pass
    finally:
        logging.raiseExceptions = raise_exceptions


def internal_error_message(exc: BaseException) -> str:
    """Keep the traceback (log and crash file) and return the one line to print."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    safe_log(logging.ERROR, tb)
    crash = crash_log(tb)
    where = f"; details in {crash}" if crash else ""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"internal error ({type(exc).__name__}: {first}){where} — please report it"


class Interrupted(BaseException):
    """Ctrl-C (SIGINT): the user stopped the command (``on_sigint`` raises it)."""


INTERRUPTED = ("interrupted (Ctrl-C) — the command stopped before it finished; a --ledger run is in the ledger "
               "whole or not at all (the next run sets aside what this one left; `medclaim ledger verify` checks it)")


def on_sigint(signum: int, frame: object) -> None:
    """The SIGINT handler of the ``medclaim`` program."""
    raise Interrupted()


def interrupted() -> Exit:
    """Say that the command was interrupted, once (a second Ctrl-C while exiting is ignored)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    safe_log(logging.WARNING, INTERRUPTED)
    print_error(INTERRUPTED)
    return Exit.INTERRUPTED


def is_failure(exc: BaseException) -> bool:
    """Everything but the ways a process is asked to stop."""
    return not isinstance(exc, (KeyboardInterrupt, Interrupted, SystemExit, GeneratorExit))


def status_for(exc: BaseException, where: list[Path | None] | None = None) -> tuple[Exit, str]:
    """The exit status and the one line to print for an unexpected failure."""
    msg = refusal_message(exc, where)
    if msg is not None:
        safe_log(logging.ERROR, msg)
        return Exit.MACHINE_REFUSED, msg
    return Exit.INTERNAL, internal_error_message(exc)


class LogFile(logging.FileHandler):
    """``--log-file``: a log that cannot be written stops the command before it does anything
    (status 12, naming the file); one that fails later (the disk filled up during the run) is
    reported once as a warning — never as logging's own traceback on stderr."""

    def __init__(self, path: Path):
        super().__init__(path, encoding="utf-8")
        self.written = False
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if not self.failed:
            self.written = True

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 — logging's name
        e = sys.exc_info()[1]
        if not self.written and isinstance(e, OSError):
            raise OSError(e.errno, e.strerror, self.baseFilename) from None
        if not self.failed:
            self.failed = True
            why = REFUSALS.get(getattr(e, "errno", None), (str(e), ""))[0]
            try:
                print(f"warning: cannot write the log file {self.baseFilename}: {why} — the log of this run is incomplete",
                      file=sys.stderr)
            except Exception:
                pass


def quiet_unraisable(unraisable) -> None:
    """Errors Python can only ignore (e.g. a half-written Excel zip closed by the garbage collector
    on a full disk) go to the log, not to the user's terminal as a traceback."""
    exc = unraisable.exc_value
    tb = "".join(traceback.format_exception(type(exc), exc, unraisable.exc_traceback)) if exc else ""
    safe_log(logging.DEBUG, f"ignored in {unraisable.object!r}: {tb}")


def exit_now(status: int) -> None:
    """Flush what was printed and logged, then end the process without running the native
    libraries' teardown: pyarrow's thread pool and polars' threads, destroyed together at
    interpreter exit, abort about one run in five (``terminate called without an active
    exception``, status 134) — after the run's message, turning its status into a crash."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        logging.shutdown()
    except Exception:
        pass
    os._exit(status)


def print_error(msg: str) -> None:
    """``error: msg`` on stderr, even when stderr is gone."""
    try:
        print(f"error: {msg}", file=sys.stderr, flush=True)
    except Exception:
        pass
