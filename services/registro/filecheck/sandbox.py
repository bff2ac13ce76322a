"""Runs one parse of an untrusted file in a short-lived child process with hard limits.

Parsers of PDF and images are large C and Python code bases fed with whatever an applicant
uploads: a crafted file can make them recurse until the stack is gone, allocate gigabytes
(decompression bombs) or loop. Inside a gunicorn worker that takes the whole worker (and its
other threads' requests) down, and `warnings`/recursion settings are process-wide state that
threads cannot safely change. So every parse runs in a child that

- is forked from a small *forkserver* that has already imported the parsers, so a check
  costs a fork and a pipe round trip, not an interpreter start (measured in
  benchmarks/bench_filecheck.py);
- is forked *before* its job: each worker keeps one spare child waiting, which has already
  parsed a small file of our own (so the copy-on-write faults of a fresh fork and the parsers'
  first-use costs are paid while nobody waits), and receives its job, its limits and its file
  when a check comes; the next spare is forked in the background;
- has its address space, CPU time, file writes and open files capped with `setrlimit`
  before it reads a byte, and is killed when it overruns the wall-clock timeout;
- runs one job and exits, so nothing a hostile file did survives it.

A worker-wide semaphore bounds how many children run at once, which is the "limit on
concurrent decodes": a burst of uploads queues instead of multiplying memory.
"""
from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import queue
import stat
import threading
import time
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any, BinaryIO, Callable, Iterable

# A file on disk (an upload's spool) is handed to the child as a read-only descriptor, which the
# child reads itself: no copy of its bytes passes through the worker. Anything else (bytes, a
# file held in memory, pieces still arriving) goes to the child through a pipe in pieces of up to
# this size, unframed (the worker closing its end is the end of the file): the worker never holds a
# whole 10 MiB upload (nor a pickled copy of it) in memory.
CHUNK_BYTES = 1024 * 1024

# The child's budget. A 50-megapixel PNG decodes to 200 MiB in Pillow; the interpreter and
# the parsers take about 100 MiB of address space; 768 MiB leaves room for both, and stops a
# bomb long before the host notices it.
MEMORY_BYTES = int(os.environ.get("FILECHECK_MEMORY_MIB", "768")) * 1024 * 1024
CPU_SECONDS = int(os.environ.get("FILECHECK_CPU_SECONDS", "10"))
# Wall clock: CPU time plus waiting for a core on a busy host.
TIMEOUT_SECONDS = float(os.environ.get("FILECHECK_TIMEOUT_SECONDS", "30"))
# How long a request waits for a free slot before it is told to try again.
QUEUE_SECONDS = float(os.environ.get("FILECHECK_QUEUE_SECONDS", "30"))
CONCURRENCY = max(1, int(os.environ.get("FILECHECK_CONCURRENCY", str(min(2, os.cpu_count() or 1)))))

_slots = threading.BoundedSemaphore(CONCURRENCY)
_context_lock = threading.Lock()
_context: Any = None


class SandboxFailed(Exception):
    """The child did not return a result: it overran a limit, crashed or could not start."""

    def __init__(self, reason: str, error: str = "") -> None:
        super().__init__(reason)
        self.reason = reason  # "timeout", "crashed", "busy", "unavailable"
        self.error = error  # the parser's exception type, when it raised one


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = MEMORY_BYTES
    cpu_seconds: int = CPU_SECONDS
    timeout_seconds: float = TIMEOUT_SECONDS


def _get_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            # Imported once in the server, inherited by every fork: the per-check cost stays low.
            # Each child would otherwise re-run the parent's main script (multiprocessing's
            # "fix-up" of __main__, e.g. gunicorn's entry point) before starting its job;
            # importing it once in the server makes the children skip that.
            # The parsers' warm-up too (server_warmup.py): each spare child inherits it.
            preload = ["registro.filecheck.parsers", "registro.filecheck.server_warmup"]
            ctx.set_forkserver_preload(["__main__", *preload] if _main_is_a_file() else preload)
            _context = ctx
        return _context


def _main_is_a_file() -> bool:
    import sys

    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):  # `python -m x`: never re-run
        return False
    path = getattr(main, "__file__", None)
    return bool(path) and os.path.isfile(path)


@dataclass(frozen=True)
class Task:
    """A function for the child named by its module, which the worker then never imports: a feature's child
    code (documents/reading/child.py) loads OpenCV and OCR models that have no place in a web worker."""
    module: str
    name: str


def warm_up() -> None:
    """Starts this worker's fork server now rather than on the first upload (about 1 s), and its
    first spare child."""
    from registro.filecheck import parsers

    run(parsers.echo, b"")


def run(func: Callable[..., Any] | Task, source: bytes | BinaryIO | Iterable[bytes], *args: Any,
        limits: Limits = Limits(), digest: bool = False) -> Any:
    """`func(data, *args)` in a limited child, `data` being the bytes of `source` (read from
    its current position; an iterable of chunks is sent as it yields them, so the child receives
    a file while it is still arriving). `func` is a module-level function of a `registro` module, or a
    `Task` naming one: the child imports it by name (`registro.filecheck.parsers`, which the fork server
    preloads, or a feature's own child code, imported by the child on first use). Returns its result;
    exceptions raised by `func` come back as SandboxFailed("crashed", their type name). `digest`: returns
    (result, SHA-256 of the bytes the child received, hashed as they arrived and before the parse ran) — the
    child's core hashes while the worker's reads."""
    if not _slots.acquire(timeout=QUEUE_SECONDS):
        raise SandboxFailed("busy")
    try:
        target = (func.module, func.name) if isinstance(func, Task) else (func.__module__, func.__name__)
        return _run_child(target, source, args, limits, digest)
    finally:
        _slots.release()


def _chunks(source: bytes | BinaryIO | Iterable[bytes]):
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for start in range(0, len(view), CHUNK_BYTES):
            yield view[start:start + CHUNK_BYTES]
        return
    if not hasattr(source, "read"):  # chunks as they arrive (a direct upload read back from S3)
        for chunk in source:
            view = memoryview(chunk)
            for start in range(0, len(view), CHUNK_BYTES):
                yield view[start:start + CHUNK_BYTES]
        return
    while chunk := source.read(CHUNK_BYTES):
        yield chunk


def _readonly_descriptor(source: bytes | BinaryIO) -> tuple[int, int] | None:
    """(a new read-only descriptor of the regular file under `source`, its current position), or
    None when `source` is not a file on disk (or this system cannot reopen one by descriptor)."""
    try:
        fd = source.fileno()  # type: ignore[union-attr]
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        source.flush()  # type: ignore[union-attr]  # what the spool still buffers must be in the file
        position = source.tell()  # type: ignore[union-attr]
        # Its own open file description: the child can neither write through it nor move the
        # worker's position in the file.
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC), position
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


class _Child:
    """A child forked ahead of its job: it waits on `control` (a socket pair, so a descriptor can
    travel on it) for the job, reads the file from `data_out`'s pipe or from the descriptor sent, and
    answers on `control`."""

    def __init__(self, ctx: Any, *, spare: bool = False) -> None:
        self.control, child_control = ctx.Pipe(duplex=True)
        data_in, self.data_out = ctx.Pipe(duplex=False)
        _widen(self.data_out)
        self.process = ctx.Process(target=_child_main, args=(child_control, data_in, spare), daemon=True)
        self.owner = os.getpid()
        try:
            self.process.start()
        except OSError:  # fork refused (no memory, process limit)
            for end in (self.control, self.data_out):
                end.close()
            raise
        finally:
            child_control.close()
            data_in.close()

    def hand(self, job: tuple, descriptor: int | None) -> None:
        """The job, then the file's descriptor when it is read from disk. OSError: the child is gone."""
        self.control.send(job)
        if descriptor is not None:
            reduction.send_handle(self.control, descriptor, self.process.pid)

    def discard(self) -> None:
        for end in (self.control, self.data_out):
            end.close()
        _reap_later(self.process)


_F_SETPIPE_SZ = 1031  # Linux's fcntl to size a pipe's buffer
PIPE_BYTES = 1024 * 1024  # the default maximum an unprivileged process may ask (/proc/sys/fs/pipe-max-size)


def _widen(connection: Connection) -> None:
    """A file's pieces cross the pipe in 1 MiB turns instead of the default 64 KiB: 16 times fewer
    switches between the worker writing and the child reading (10 MiB: ≈ 18 ms → a few)."""
    try:
        import fcntl

        fcntl.fcntl(connection.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, OSError):
        pass  # another system, or a lower limit: the default buffer works, only slower


SPARE_DELAY_S = 0.05
_spare_lock = threading.Lock()
_spare: _Child | None = None
_forking_spare = False


def _take_child() -> _Child:
    """This worker's spare child (a fresh one is forked in the background for the next check), or
    a child forked now when there is none ready (two checks at once, the first check)."""
    global _spare
    with _spare_lock:
        child, _spare = _spare, None
    if child is not None and (child.owner != os.getpid() or not child.process.is_alive()):
        if child.owner == os.getpid():
            child.discard()
        child = None
    _fork_spare_later()
    return child if child is not None else _Child(_get_context())


def _fork_spare_later() -> None:
    global _forking_spare
    with _spare_lock:
        if _forking_spare or (_spare is not None and _spare.owner == os.getpid()):
            return
        _forking_spare = True

    def fork() -> None:
        global _spare, _forking_spare
        try:
            child = _Child(_get_context(), spare=True)
        except OSError:
            child = None
        with _spare_lock:
            _forking_spare = False
            if child is not None and _spare is None:
                _spare, child = child, None
        if child is not None:
            child.discard()

    # Forked a moment later, not at once: its preparation (≈ 30 ms of CPU, mostly faulting in its heap: the
    # parsers' warm-up is the fork server's, server_warmup.py) would otherwise compete, on a host of few cores,
    # with what follows the check it replaces (the record's write, the answer).
    timer = threading.Timer(SPARE_DELAY_S, fork)
    timer.name, timer.daemon = "filecheck-spare", True
    timer.start()


def _run_child(name: tuple[str, str], source: bytes | BinaryIO | Iterable[bytes], args: tuple, limits: Limits,
               digest: bool = False) -> Any:
    on_disk = _readonly_descriptor(source)
    job = (name, args, limits, on_disk[1] if on_disk else None, digest)
    try:
        try:
            child = _take_child()
            try:
                child.hand(job, on_disk[0] if on_disk else None)
            except OSError:  # the spare died while it waited (killed from outside): a fresh one
                child.discard()
                child = _Child(_get_context())
                child.hand(job, on_disk[0] if on_disk else None)
        except OSError as exc:
            raise SandboxFailed("unavailable") from exc
    finally:
        if on_disk:
            os.close(on_disk[0])  # the child has its own copy
    process, control, data_out = child.process, child.control, child.data_out
    # One deadline for the whole job, feeding the bytes included: a child that stops reading
    # is killed, which unblocks the writer below.
    deadline = time.monotonic() + limits.timeout_seconds
    fired = threading.Event()

    def overrun() -> None:
        fired.set()
        process.kill()

    watchdog = threading.Timer(limits.timeout_seconds, overrun)
    watchdog.daemon = True
    watchdog.start()
    answered = False
    try:
        try:
            if not on_disk:  # the bytes themselves, unframed: closing the pipe is the end of the file
                for chunk in _chunks(source):
                    _write_all(data_out.fileno(), chunk)
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            # The child died while reading: a limit, or the watchdog.
            raise SandboxFailed("timeout" if fired.is_set() else "crashed") from exc
        finally:
            data_out.close()
        if not control.poll(max(0.0, deadline - time.monotonic())):
            raise SandboxFailed("timeout")
        try:
            status, value = control.recv()
        except (EOFError, OSError) as exc:  # killed by a limit (SIGKILL, SIGXCPU) before answering
            raise SandboxFailed("timeout" if fired.is_set() else "crashed") from exc
        if status != "ok":
            raise SandboxFailed("crashed", value)
        answered = True
        return value
    finally:
        watchdog.cancel()
        control.close()
        if answered:
            # The child exits right after answering; its exit status comes back through the fork
            # server, a round trip that costs milliseconds on a busy host: collected off this path.
            _reap_later(process)
        else:
            _reap(process)


def _reap(process) -> None:
    if process.is_alive():
        process.kill()
    process.join(5)
    process.close() if not process.is_alive() else None


_reaper_lock = threading.Lock()
_reaper_queue: queue.SimpleQueue | None = None
_reaper_pid = 0


def _reap_later(process) -> None:
    """Hands a child that has answered to this process's reaper thread (started on first use)."""
    global _reaper_queue, _reaper_pid
    with _reaper_lock:
        if _reaper_queue is None or _reaper_pid != os.getpid():
            _reaper_queue, _reaper_pid = queue.SimpleQueue(), os.getpid()
            threading.Thread(target=_reaper, args=(_reaper_queue,), name="filecheck-reaper", daemon=True).start()
        _reaper_queue.put(process)


def _reaper(children: queue.SimpleQueue) -> None:
    while True:
        process = children.get()
        try:
            _reap(process)
        except Exception:  # noqa: BLE001 - the reaper outlives any one child
            pass


PREFAULT_BYTES = int(os.environ.get("FILECHECK_PREFAULT_MIB", "48")) * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def _prefault_heap() -> None:
    """The child's big buffers (the file, its lowered copy, the parser's copy of a stream: 10 MiB
    each) come from heap pages faulted in now: a fresh process otherwise pays a page fault per 4 KiB
    of each, about half of a 10 MiB check. glibc is told to serve them from the heap (not fresh
    mmaps) and to keep freed memory."""
    import ctypes

    libc = ctypes.CDLL(None)
    if not (libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024) and libc.mallopt(_M_TRIM_THRESHOLD, 2 ** 30)):
        return
    block = 4 * 1024 * 1024  # below the threshold: from the heap, whose freed top glibc now keeps
    filled = [b"\x01" * block for _ in range(PREFAULT_BYTES // block)]  # written page by page
    del filled


def _release_heap() -> None:
    import ctypes

    libc = ctypes.CDLL(None)
    libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
    libc.malloc_trim(0)


def _write_all(fd: int, chunk: bytes | memoryview) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view):]


def _pieces_until_eof(fd: int):
    """The pipe's bytes in pieces of up to PIPE_BYTES, each read straight into its own buffer (one copy,
    not the three of a framed message), until the worker closes its end."""
    while True:
        piece = bytearray(PIPE_BYTES)
        filled = 0
        while filled < PIPE_BYTES:
            n = os.readv(fd, [memoryview(piece)[filled:]])
            if n == 0:
                break
            filled += n
        if filled:
            del piece[filled:]
            yield piece
        if filled < PIPE_BYTES:
            return


def _function(module: str, name: str) -> Callable[..., Any]:
    """The job's function, from the service's own modules only."""
    import importlib

    if module != "registro" and not module.startswith("registro."):
        raise ImportError(module)
    return getattr(importlib.import_module(module), name)


def _child_main(control: Connection, data_in: Connection, spare: bool = False) -> None:
    import resource

    from registro.filecheck import parsers

    if spare:  # nobody waits for it yet: first-use costs paid now, on small files of our own
        try:
            parsers.warm_up()
            _prefault_heap()  # after the warm-up: the kept pages are the heap's top, which a trim can give back
        except Exception:  # noqa: BLE001 - a warm-up that fails costs only its time
            pass
    try:
        name, args, limits, position, digest = control.recv()
    except (EOFError, OSError):  # the worker is gone (or dropped this spare): nothing to do
        os._exit(0)
    if spare and limits.memory_bytes < MEMORY_BYTES:
        _release_heap()  # a tighter cap than the spare was prepared for: its kept pages must not be room
    # The limits bind before a byte of the file is read.
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # a parser has nothing to write
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        module, function = name
        scanned = module == parsers.__name__ and function in parsers.SCANNED_AS_RECEIVED
        scan = parsers.MarkupScan() if scanned else None
        hasher = hashlib.sha256() if digest else None
        if position is not None:  # the file on disk: its descriptor follows the job; read it here
            data_in.close()
            with open(reduction.recv_handle(control), "rb", closefd=True) as file:
                file.seek(position)
                data = file.read()
            if scan is not None:
                scan.feed(data)
            if hasher is not None:
                hasher.update(data)
        else:
            # Scanned piece by piece as it arrives (a direct upload read back from S3 arrives over
            # milliseconds): by the last piece the search for markup is over.
            pieces = []
            for piece in _pieces_until_eof(data_in.fileno()):
                pieces.append(piece)
                if scan is not None:
                    scan.feed(piece)
                if hasher is not None:
                    hasher.update(piece)
            data_in.close()
            data = b"".join(pieces)
            del pieces
        extra = {"markup_seen": scan.close()} if scan is not None else {}
        value = _function(module, function)(data, *args, **extra)
        result = ("ok", (value, hasher.hexdigest()) if hasher is not None else value)
    except BaseException as exc:  # noqa: BLE001 - any failure of the parse is a refusal, reported by type only
        result = ("error", type(exc).__name__)
    try:
        control.send(result)
    except BaseException:  # noqa: BLE001 - the parent sees EOF and treats it as a crash
        pass
    finally:
        control.close()
        os._exit(0)  # no atexit handlers, no flushing of inherited buffers
