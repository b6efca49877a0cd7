"""The sandbox fork server ("zygote"): runs as its own process, stdlib only, never runs candidates.

It is started by :class:`soarkit_code.sandbox.pool.SandboxPool` as
``python -I -S zygote.py`` with a scrubbed environment. At start it moves itself into fresh
network, mount and IPC namespaces where the kernel allows it (private tmpfs over every
world-writable directory, no network interface up), and makes itself the child subreaper so
that whatever a candidate spawns is re-parented here and reaped.

Then, per job read from stdin (4-byte length + JSON), it forks a single-use child that:

* becomes a new session (its own process group), gets ``/dev/null`` as stdin, stdout and
  stderr (output is never read, so it cannot influence a verdict nor fill a disk) and a pipe as
  fd 3, closes every other descriptor;
* chdirs into a fresh private directory, applies rlimits (CPU, address space, processes, file
  size, open files, core dumps), sets ``no_new_privs``, installs a seccomp filter that refuses
  non-UNIX sockets, drops to a uid/gid used by nobody else on the host;
* executes the candidate and then the harness's calls, writing *only serialised plain values*
  to fd 3.

The zygote enforces the wall-clock limit, then kills every process the job left: those in its
memory cgroup (membership cannot be shed) or, without a cgroup, every process of the job's uid
(``kill(-1)`` issued *as that uid* reaches processes that left the process group); it reaps them,
wipes the job's files, and answers the parent with the raw bytes from fd 3. Those bytes are untrusted:
the parent decodes them and compares values itself (see ``harness.py``). This module is
deliberately free of soar-kit imports so that the child's interpreter holds nothing but the
standard library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import platform
import resource
import select
import shutil
import signal
import struct
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 2
MS_NODEV = 4
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_SECCOMP = 22
PR_SET_DUMPABLE = 4
SECCOMP_MODE_FILTER = 2

#: Directories any uid may write to on a usual Linux host; covered by a private tmpfs.
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

STATE: dict[str, object] = {
    "netns": False,
    "mountns": False,
    "userns": False,
    "pidns": False,
    "root": os.geteuid() == 0,
    "cgroup": "",
    "pids_cgroup": "",
    "nproc_guard": "",
    "degraded": [],
}


def _send(obj: dict) -> None:
    data = json.dumps(obj).encode()
    sys.stdout.buffer.write(struct.pack(">I", len(data)) + data)
    sys.stdout.buffer.flush()


def _recv() -> dict | None:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    return json.loads(sys.stdin.buffer.read(n))


# -- one-time isolation of the zygote itself ------------------------------------------------------

CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
#: The zygote's own pid as the host sees it (``/proc`` is the host's): names of cgroups and
#: directories must be unique on the host, and inside a PID namespace ``os.getpid()`` is 1.
HOST_PID = os.getpid()
#: fd of the zygote's active PID namespace: each job gets a fresh child namespace of it
PIDNS_FD = -1


def _degrade(feature: str, why: str) -> None:
    """Record a missing protection by name; the pool logs these and ``describe()`` reports them."""
    STATE.setdefault("degraded", [])
    STATE["degraded"].append(f"{feature}: {why}")  # type: ignore[union-attr]


def _err() -> str:
    e = ctypes.get_errno()
    return f"{errno_name(e)} ({os.strerror(e)})"


def errno_name(e: int) -> str:
    import errno

    return errno.errorcode.get(e, str(e))


def _sysctl(name: str) -> str:
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as fh:
            return fh.read().strip()
    except OSError:
        return "absent"


def _enter_userns() -> bool:
    """Without privileges, a user namespace of our own grants them over namespaces we create.

    The caller's uid/gid are mapped to themselves (a single line, allowed unprivileged), so files
    keep their owners and a job cannot be more than the caller; jobs drop every capability.
    """
    if os.environ.get("SOARKIT_SANDBOX_NO_USERNS") == "1":
        _degrade("userns", "disabled by SOARKIT_SANDBOX_NO_USERNS=1")
        return False
    # A probe child first: a namespace entered with maps that cannot be written would leave the
    # zygote with unmapped ids (every file it creates then fails with EOVERFLOW).
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        why = _userns_here()
        os.write(wfd, why.encode()[:500])
        os._exit(0)
    os.close(wfd)
    why = os.read(rfd, 600).decode(errors="replace")
    os.close(rfd)
    os.waitpid(pid, 0)
    if not why:
        why = _userns_here()
    if why:
        _degrade("userns", why)
        return False
    STATE["userns"] = True
    return True


def _userns_here() -> str:
    """Enter a user namespace mapping our uid/gid to themselves; '' or why not."""
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(CLONE_NEWUSER) != 0:
        why = _err()
        knobs = (
            f"user.max_user_namespaces={_sysctl('user.max_user_namespaces')}, "
            f"kernel.unprivileged_userns_clone={_sysctl('kernel.unprivileged_userns_clone')}"
        )
        return f"unshare(CLONE_NEWUSER) failed: {why}; {knobs}"
    try:
        for fname, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{fname}", "w") as fh:
                fh.write(text)
    except OSError as exc:
        extra = " (mapping host uid 0 needs CAP_SETFCAP)" if uid == 0 else ""
        return f"writing /proc/self/{fname} failed: {exc.strerror}{extra}"
    return ""


def _isolate() -> None:
    """Enter fresh namespaces where possible; every step degrades to a named, recorded reason."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.environ.get("SOARKIT_SANDBOX_NO_NAMESPACES") == "1":
        _degrade("namespaces", "disabled by SOARKIT_SANDBOX_NO_NAMESPACES=1")
        _degrade("pidns", "no namespaces: process limit and cleanup rely on cgroup/uid")
        return
    if _libc.unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0:
        STATE["netns"] = True
    else:
        first = _err()  # no privileges here: a user namespace of our own may grant them
        if _enter_userns() and _libc.unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0:
            STATE["netns"] = True
        else:
            _degrade("netns", f"unshare(CLONE_NEWNET|CLONE_NEWIPC) failed: {first}")
    if _libc.unshare(CLONE_NEWNS) == 0:
        if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0:
            ok = True
            for d in WORLD_WRITABLE:
                if os.path.isdir(d):
                    opts = b"size=64m,mode=1777,nr_inodes=4096"
                    rc = _libc.mount(b"tmpfs", d.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts)
                    ok = ok and rc == 0
            STATE["mountns"] = ok and _hide_homes()
    else:
        _degrade("mountns", f"unshare(CLONE_NEWNS) failed: {_err()}")
    if not STATE["mountns"] and not any(d.startswith("mountns") for d in STATE["degraded"]):
        _degrade("mountns", "private tmpfs or hidden homes could not be mounted")
    _setup_pidns()


def _setup_pidns() -> None:
    """Make every job the first process (PID 1) of a PID namespace of its own.

    Why: a job's processes then are exactly the namespace's members. When the job's first
    process dies, the kernel kills *and reaps* every other member before its parent (this zygote)
    sees the exit, so nothing a job spawned -- daemons, a fork bomb's zombies -- outlives it or
    counts against the next job. Members cannot name processes outside the namespace (kill,
    ptrace, getppid() == 0).

    Per job the zygote re-enters its own namespace (``setns``) and unshares a fresh one for
    its next child (``unshare(CLONE_NEWPID)`` works once until reset). ``setns`` needs
    CAP_SYS_ADMIN over the owner of the zygote's namespace: true for root; inside our own user
    namespace it is not (the host's PID namespace belongs to the host), so there the zygote forks
    once into a namespace that its user namespace owns and serves from there, its first process
    staying behind as a shim that only waits.
    """
    global PIDNS_FD
    try:
        fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        _degrade("pidns", f"cannot open /proc/self/ns/pid: {exc.strerror}")
        return
    if _libc.unshare(CLONE_NEWPID) != 0:
        _degrade("pidns", f"unshare(CLONE_NEWPID) failed: {_err()}")
        os.close(fd)
        return
    if _libc.setns(fd, CLONE_NEWPID) != 0:
        os.close(fd)
        try:
            _become_pidns_init()  # returns in the child only; pid_ns_for_children is still new
        except OSError as exc:
            _degrade("pidns", f"cannot fork into the new PID namespace: {exc.strerror}")
            return
        fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if _libc.setns(fd, CLONE_NEWPID) != 0:
            os.close(fd)
            _degrade("pidns", f"setns(own PID namespace) failed in the user namespace: {_err()}")
            return
    PIDNS_FD = fd
    STATE["pidns"] = True


def _become_pidns_init() -> None:
    """Fork into the fresh PID namespace; the original process waits and mirrors the exit."""
    global HOST_PID
    pid = os.fork()
    if pid:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.close(0)  # the pool talks to the child; a dead child must look like EOF at once
        os.close(1)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the pool kills the shim: follow it
    STATE["shim"] = True
    try:
        HOST_PID = int(os.readlink("/proc/self"))  # /proc is the host's: the host's pid
    except (OSError, ValueError):
        HOST_PID = os.getpid()


def _new_job_pidns() -> bool:
    """Point the next fork at a fresh PID namespace (cheap: two syscalls)."""
    return _libc.setns(PIDNS_FD, CLONE_NEWPID) == 0 and _libc.unshare(CLONE_NEWPID) == 0


def _end_job_pidns() -> None:
    """Back to the zygote's own namespace, so helper forks (the uid sweep) run beside it."""
    _libc.setns(PIDNS_FD, CLONE_NEWPID)


MS_BIND = 4096
MS_REMOUNT = 32
MS_RDONLY = 1
#: Home directories hidden behind an empty tmpfs in the zygote's mount namespace.
HOMES = ("/root", "/home")


def _hide_homes() -> bool:
    """Cover home directories with an empty tmpfs; re-expose the stdlib read-only if it lives there.

    The interpreter (e.g. a pyenv build) may sit under ``/root``; the dropped uid could not read
    it anyway (``/root`` is 0700), so without the re-bind candidates could not ``import`` modules
    the zygote had not pre-imported.
    """
    ok = True
    needed = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)})
    for home in HOMES:
        if not os.path.isdir(home):
            continue
        inside = [p for p in needed if p.startswith(home.rstrip("/") + "/")]
        fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in inside}
        if (
            _libc.mount(
                b"tmpfs", home.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755"
            )
            != 0
        ):
            ok = False
            continue
        for p, fd in fds.items():
            os.makedirs(p, mode=0o755, exist_ok=True)
            src = f"/proc/self/fd/{fd}".encode()
            rc = _libc.mount(src, p.encode(), None, MS_BIND | MS_REC, None)
            rc = rc or _libc.mount(None, p.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
            ok = ok and rc == 0
            os.close(fd)
    return ok


#: Pure, commonly used stdlib modules imported once in the zygote so that children start warm.
PRELOAD = (
    "math",
    "cmath",
    "re",
    "itertools",
    "functools",
    "collections",
    "heapq",
    "bisect",
    "string",
    "operator",
    "copy",
    "random",
    "fractions",
    "decimal",
    "statistics",
    "typing",
    "dataclasses",
    "enum",
    "hashlib",
    "json",
    "datetime",
    "array",
    "textwrap",
    "unicodedata",
    "threading",
    "socket",
    "subprocess",
    "time",
    "io",
)


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:
            pass


# -- Landlock: file-system and TCP rules that hold without root or namespaces ---------------------

_LL_EXECUTE, _LL_WRITE_FILE, _LL_READ_FILE, _LL_READ_DIR = 1, 2, 4, 8
#: write file, remove dir/file, make char/dir/reg/sock/fifo/block/sym
_LL_WRITE_ANY = 2 | 0b1111111110000
_LL_REFER, _LL_TRUNCATE = 1 << 13, 1 << 14
#: Read (and execute) is allowed beneath these; everything else, /etc and homes included, is not.
READ_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/dev", "/proc")
READ_FILES = ("/etc/ld.so.cache", "/etc/localtime")
LANDLOCK: dict[str, int] = {"fd": -1, "abi": 0}


def _syscall(nr: int, *args: object) -> int:
    _libc.syscall.restype = ctypes.c_long
    return _libc.syscall(ctypes.c_long(nr), *args)


def _prepare_landlock(base: str) -> None:
    """Build one ruleset in the zygote; each child only calls ``landlock_restrict_self`` (cheap).

    Writes are allowed beneath the job directory's parent (root-owned 0711, so a job can only
    write inside its own directory) and, with a mount namespace, the private tmpfs directories.
    Reads are allowed beneath system and interpreter directories only. With ABI >= 4, TCP bind
    and connect are refused; with ABI >= 6, signals and abstract UNIX sockets cannot reach
    processes outside the job (the zygote, the host).
    """
    if os.environ.get("SOARKIT_SANDBOX_NO_LANDLOCK") == "1":
        _degrade("landlock", "disabled by SOARKIT_SANDBOX_NO_LANDLOCK=1")
        return
    abi = _syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        _degrade("landlock", f"not offered by this kernel: {_err()}")
        return
    read = _LL_EXECUTE | _LL_READ_FILE | _LL_READ_DIR
    write = _LL_WRITE_ANY | (_LL_REFER if abi >= 2 else 0) | (_LL_TRUNCATE if abi >= 3 else 0)
    net = 3 if abi >= 4 else 0
    scoped = 3 if abi >= 6 else 0
    attr = struct.pack("QQQ", read | write, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = _syscall(444, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if fd < 0:
        return
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)}
    rules: list[tuple[str, int]] = [(p, read) for p in (*READ_PATHS, *sorted(prefixes))]
    rules += [(p, _LL_READ_FILE) for p in READ_FILES]
    rules += [("/dev/null", _LL_READ_FILE | _LL_WRITE_FILE)]
    rules += [(base, read | write)]
    if STATE["mountns"]:
        rules += [(d, read | write) for d in WORLD_WRITABLE]
    file_bits = _LL_READ_FILE | _LL_WRITE_FILE | _LL_EXECUTE | (_LL_TRUNCATE if abi >= 3 else 0)
    for path, access in rules:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        if not os.path.isdir(path):
            access &= file_bits
        rule = ctypes.create_string_buffer(struct.pack("=Qi", access, pfd), 12)
        _syscall(445, ctypes.c_int(fd), ctypes.c_int(1), rule, ctypes.c_uint32(0))
        os.close(pfd)
    LANDLOCK["fd"], LANDLOCK["abi"] = fd, abi
    STATE["landlock_abi"] = abi


def _restrict_landlock() -> bool:
    if LANDLOCK["fd"] < 0:
        return False
    return _syscall(446, ctypes.c_int(LANDLOCK["fd"]), ctypes.c_uint32(0)) == 0


# -- memory cgroup: one per zygote, bounds a job's processes together ------------------------


def _setup_cgroup() -> None:
    """A child memory cgroup of our own (v1 or v2) so that RLIMIT_AS x processes cannot add up."""
    if os.environ.get("SOARKIT_SANDBOX_NO_CGROUP") == "1":
        _degrade("memory-cgroup", "disabled by SOARKIT_SANDBOX_NO_CGROUP=1")
        _setup_pids_cgroup()
        return
    lines = _cgroup_lines("memory-cgroup")
    if lines is None:
        return
    name = f"soarkit-sbx-{HOST_PID}"
    for _, ctrls, path in lines:
        if "memory" in ctrls.split(","):
            _remove_stale(os.path.join("/sys/fs/cgroup/memory", path.lstrip("/")))
            d = os.path.join("/sys/fs/cgroup/memory", path.lstrip("/"), name)
            try:
                os.mkdir(d)
                STATE["cgroup"], STATE["cgroup_v"] = d, 1
                break
            except OSError:
                pass
    for _, ctrls, path in lines:
        if ctrls == "" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            d = os.path.join("/sys/fs/cgroup", path.lstrip("/"), name)
            try:
                os.mkdir(d)
                STATE["cgroup"], STATE["cgroup_v"] = d, 2
            except OSError:
                pass
    # The zygote lives in the cgroup itself: children inherit it at fork, which is free, whereas
    # moving every child in costs milliseconds (cgroup v1 migration waits for RCU). The zygote is
    # exempt from the OOM killer; children volunteer first.
    if STATE["cgroup"]:
        try:
            with open("/proc/self/oom_score_adj", "w") as fh:
                fh.write("-1000")
        except OSError:
            pass
        if not _cg_write("cgroup.procs", str(os.getpid())):
            try:
                os.rmdir(str(STATE["cgroup"]))
            except OSError:
                pass
            STATE["cgroup"] = ""
    if not STATE["cgroup"]:
        _degrade("memory-cgroup", "no memory cgroup could be created and joined")
    _setup_pids_cgroup(lines)


def _cgroup_lines(protection: str) -> list[list[str]] | None:
    """``/proc/self/cgroup`` as (hierarchy, controllers, path) rows, or None with ``protection``
    recorded as degraded when it cannot be read."""
    try:
        with open("/proc/self/cgroup") as fh:
            return [ln.strip().split(":", 2) for ln in fh if ln.strip()]
    except OSError as exc:
        _degrade(protection, f"cannot read /proc/self/cgroup: {exc}")
        return None


def _setup_pids_cgroup(lines: list[list[str]] | None = None) -> None:
    """A ``pids`` cgroup of our own: ``pids.max`` counts this zygote and its job, nothing else.

    Why: ``RLIMIT_NPROC`` counts every task of the real uid, so where the job shares a uid with
    other processes its limit depends on what else runs (the ``BlockingIOError`` flake of benign
    programs). Tasks (threads included) of this cgroup are exactly the zygote plus its job.
    """
    if os.environ.get("SOARKIT_SANDBOX_NO_CGROUP") == "1":
        _degrade("pids-cgroup", "disabled by SOARKIT_SANDBOX_NO_CGROUP=1")
        return
    if lines is None:
        lines = _cgroup_lines("pids-cgroup")
        if lines is None:
            return
    name = f"soarkit-sbx-{HOST_PID}"
    why = "no pids controller mounted (cgroup v1 'pids' or enabled in the v2 tree)"
    if STATE.get("cgroup_v") == 2 and STATE["cgroup"]:
        try:
            with open(os.path.join(str(STATE["cgroup"]), "cgroup.controllers")) as fh:
                if "pids" in fh.read().split():
                    STATE["pids_cgroup"] = STATE["cgroup"]  # already inside it
                    return
        except OSError:
            pass
    for _, ctrls, path in lines:
        if "pids" in ctrls.split(","):
            parent = os.path.join("/sys/fs/cgroup/pids", path.lstrip("/"))
            _remove_stale(parent)
            d = os.path.join(parent, name)
            try:
                os.mkdir(d)
            except OSError as exc:
                why = f"cannot create {d}: {exc.strerror}"
                break
            try:
                with open(os.path.join(d, "cgroup.procs"), "w") as fh:
                    fh.write(str(os.getpid()))
                STATE["pids_cgroup"] = d
                return
            except OSError as exc:
                why = f"cannot join {d}: {exc.strerror}"
                try:
                    os.rmdir(d)
                except OSError:
                    pass
                break
    _degrade("pids-cgroup", why)


def _pids_limit(nproc: int) -> None:
    """The job may have ``nproc`` tasks; the zygote is the one more."""
    if STATE["pids_cgroup"] and STATE.get("pids_max") != nproc + 1:
        STATE["pids_max"] = 0
        # an OSError fails this job as "not judged": never run it with a weaker limit
        with open(os.path.join(str(STATE["pids_cgroup"]), "pids.max"), "w") as fh:
            fh.write(str(nproc + 1))
        STATE["pids_max"] = nproc + 1


def _remove_stale(parent: str) -> None:
    """Remove cgroups of zygotes that were killed before they could clean up (SIGKILL, OOM).

    ``rmdir`` only succeeds on an empty cgroup, and a live zygote is always inside its own, so
    this never touches a cgroup in use.
    """
    try:
        names = [n for n in os.listdir(parent) if n.startswith("soarkit-sbx-")]
    except OSError:
        return
    for n in names:
        pid = n.rsplit("-", 1)[-1]
        if pid.isdigit() and os.path.exists(f"/proc/{pid}"):
            continue  # its zygote may be alive and just about to join it
        try:
            os.rmdir(os.path.join(parent, n))
        except OSError:
            pass


def _cg_write(fname: str, value: str) -> bool:
    try:
        with open(os.path.join(str(STATE["cgroup"]), fname), "w") as fh:
            fh.write(value)
        return True
    except OSError:
        return False


def _cg_limit(nbytes: int) -> None:
    if STATE.get("cgroup_v") == 1:
        _cg_write("memory.max_usage_in_bytes", "0")
        if STATE.get("cg_limit") != nbytes:
            _cg_write("memory.limit_in_bytes", str(nbytes))
            _cg_write("memory.memsw.limit_in_bytes", str(nbytes))
    elif STATE.get("cgroup_v") == 2 and STATE.get("cg_limit") != nbytes:
        _cg_write("memory.max", str(nbytes))
        _cg_write("memory.swap.max", "0")
    STATE["cg_limit"] = nbytes


def _cg_peak() -> int:
    fname = "memory.max_usage_in_bytes" if STATE.get("cgroup_v") == 1 else "memory.peak"
    try:
        with open(os.path.join(str(STATE["cgroup"]), fname)) as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


# -- seccomp: refuse sockets other than AF_UNIX ---------------------------------------------------

#: (audit arch, socket, clone, {syscall: errno}) per machine. Denied: namespaces (a user
#: namespace would hand the candidate capabilities inside it), ptrace, mount, keyrings, bpf,
#: perf, userfaultfd, io_uring; ``clone3`` answers ENOSYS so libc falls back to ``clone``, whose
#: flags a classic filter can inspect.
_EPERM, _ENOSYS = 1, 38
_ARCH: dict[str, tuple[int, int, int, dict[int, int]]] = {
    "x86_64": (
        0xC000003E,
        41,
        56,
        {
            101: _EPERM,
            272: _EPERM,
            308: _EPERM,
            165: _EPERM,
            321: _EPERM,
            298: _EPERM,
            250: _EPERM,
            248: _EPERM,
            323: _EPERM,
            425: _EPERM,
            435: _ENOSYS,
        },
    ),
    "aarch64": (
        0xC00000B7,
        198,
        220,
        {
            117: _EPERM,
            97: _EPERM,
            268: _EPERM,
            40: _EPERM,
            280: _EPERM,
            241: _EPERM,
            219: _EPERM,
            217: _EPERM,
            282: _EPERM,
            425: _EPERM,
            435: _ENOSYS,
        },
    ),
}
_CLONE_NS_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def _seccomp_program() -> bytes | None:
    """A classic-BPF filter, built by hand (no libseccomp needed).

    ``socket(domain != AF_UNIX)`` -> EACCES: defence in depth next to the empty network
    namespace, and the network guard where no namespace can be made (non-root, containers).
    ``clone`` with namespace flags and the syscalls in :data:`_ARCH` are refused too.
    """
    arch = _ARCH.get(platform.machine())
    if arch is None:
        return None
    audit_arch, nr_socket, nr_clone, denied = arch
    ld_w_abs, jeq_k, jge_k, jset_k, ret_k = 0x20, 0x15, 0x35, 0x45, 0x06
    allow = 0x7FFF0000
    kill = 0x80000000  # SECCOMP_RET_KILL_PROCESS: a foreign-arch syscall is not negotiable

    def ins(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    def errno(e: int) -> int:
        return 0x00050000 | e

    prog = [
        ins(ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        ins(jeq_k, 1, 0, audit_arch),
        ins(ret_k, 0, 0, kill),
        ins(ld_w_abs, 0, 0, 0),  # seccomp_data.nr
        # x32 syscalls (bit 30) share x86_64's audit arch: they would bypass every rule below
        ins(jge_k, 0, 1, 0x40000000),
        ins(ret_k, 0, 0, kill),
    ]
    for nr, e in denied.items():
        prog += [ins(jeq_k, 0, 1, nr), ins(ret_k, 0, 0, errno(e))]
    prog += [
        ins(jeq_k, 0, 3, nr_clone),
        ins(ld_w_abs, 0, 0, 16),  # args[0] low word: clone flags
        ins(jset_k, 0, 1, _CLONE_NS_FLAGS),
        ins(ret_k, 0, 0, errno(_EPERM)),
        ins(ld_w_abs, 0, 0, 0),  # reload nr (the clone branch may have replaced it)
        ins(jeq_k, 0, 3, nr_socket),
        ins(ld_w_abs, 0, 0, 16),  # args[0] low word: the address family
        ins(jeq_k, 1, 0, 1),  # AF_UNIX -> allow
        ins(ret_k, 0, 0, errno(13)),
        ins(ret_k, 0, 0, allow),
    ]
    return b"".join(prog)


_SECCOMP = _seccomp_program()


def _install_seccomp() -> bool:
    if _SECCOMP is None:
        return False
    n = len(_SECCOMP) // 8
    buf = ctypes.create_string_buffer(_SECCOMP, len(_SECCOMP))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(n, ctypes.cast(buf, ctypes.c_void_p))
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


# -- value encoding (runs in the child; its output is untrusted anyway) ---------------------------


class _Unencodable(Exception):
    pass


def _enc(v: object, budget: list[int], depth: int = 0) -> object:
    budget[0] -= 1
    if budget[0] < 0 or depth > 100:
        raise _Unencodable("value too large")
    t = type(v)
    if v is None:
        return None
    if t is bool:
        return v
    if t is int:
        return ["i", str(v)]
    if t is float:
        return ["f", repr(v)]
    if t is str:
        budget[0] -= len(v) // 16
        return ["s", v]
    if t is bytes:
        return ["b", v.hex()]
    if t is complex:
        return ["c", repr(v.real), repr(v.imag)]
    if t in (list, tuple, set, frozenset):
        tag = {list: "l", tuple: "t", set: "S", frozenset: "F"}[t]
        return [tag, [_enc(x, budget, depth + 1) for x in v]]
    if t is dict:
        return [
            "d",
            [[_enc(k, budget, depth + 1), _enc(x, budget, depth + 1)] for k, x in v.items()],
        ]
    raise _Unencodable(f"unsupported return type {t.__name__}")


# -- the single-use child ------------------------------------------------------------------------


def _choose_nproc_guard() -> None:
    """Decide once what bounds a job's process count, and name it (see ``_nproc_limit``)."""
    if STATE["pids_cgroup"]:
        STATE["nproc_guard"] = "pids-cgroup"
    elif STATE["root"]:
        STATE["nproc_guard"] = "rlimit-own-uid"
    elif STATE["userns"] and os.getuid() != 0:
        STATE["nproc_guard"] = "rlimit-own-userns"
    elif os.getuid() == 0:
        STATE["nproc_guard"] = "none"
        _degrade(
            "nproc",
            "no pids cgroup, no uid drop, and uid 0 is exempt from RLIMIT_NPROC: only the wall "
            "clock and the memory limits bound a fork bomb",
        )
    else:
        STATE["nproc_guard"] = "rlimit-shared-uid"
        _degrade(
            "nproc",
            "no pids cgroup, no uid drop, no user namespace: RLIMIT_NPROC counts every process "
            "of the caller's uid, so benign programs may hit it when other processes run",
        )


def _nproc_limit(nproc: int) -> int:
    """RLIMIT_NPROC counts the tasks (threads too) of the real uid within a user namespace.

    * a pids cgroup is the guard: the rlimit is lifted, so that no other process of the same
      uid can make a benign program's fork or thread fail;
    * a uid of the zygote's own (uid drop): the count is the job's, ``nproc`` exactly;
    * our own user namespace: counted per (namespace, uid): the job plus the zygote;
    * otherwise (degraded, named in ``describe()``): the caller's tasks now plus ``nproc``.
    """
    guard = STATE["nproc_guard"]
    if guard == "pids-cgroup":
        return resource.getrlimit(resource.RLIMIT_NPROC)[1]  # as high as we may set it
    if guard == "rlimit-own-uid":
        return nproc
    if guard == "rlimit-own-userns":
        return nproc + 1 + int(bool(STATE.get("shim")))  # the zygote (and its shim) count too
    me, count = os.getuid(), 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == me:
                    count += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return count + nproc


_CAPSET_NR = {"x86_64": 126, "aarch64": 91}
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
#: SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP(_LOCKED) | KEEP_CAPS_LOCKED
_SECUREBITS = 0x1 | 0x2 | 0x4 | 0x8 | 0x20


def _drop_capabilities() -> bool:
    """In our own user namespace the job would inherit every capability over it: drop them all."""
    _libc.prctl(PR_SET_SECUREBITS, _SECUREBITS, 0, 0, 0)
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    nr = _CAPSET_NR.get(platform.machine())
    if nr is None:
        return False
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0), 8)
    data = ctypes.create_string_buffer(bytes(24), 24)
    return _syscall(nr, header, data) == 0


def _child(job: dict, rfd: int, wfd: int, uid: int, workdir: str) -> None:
    """Runs in the forked child; never returns."""
    try:
        os.close(rfd)
        if STATE["pidns"]:
            # PID 1 of its namespace: if the zygote dies, the kernel kills us and all we spawned
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.setsid()
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")  # under memory pressure the candidate goes first, never the zygote
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if LANDLOCK["fd"] >= 0 and not _restrict_landlock():
            os._exit(0)  # the zygote promised these rules: never run a candidate without them
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # output is never read: the verdict cannot depend on it
        os.dup2(null, 2)
        os.dup2(wfd, 3)
        os.closerange(4, 65536)
        os.chdir(workdir)
        lim = job["limits"]
        mb = 1024 * 1024
        for res, val in (
            (resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1)),
            (resource.RLIMIT_AS, (lim["memory_mb"] * mb,) * 2),
            (resource.RLIMIT_NPROC, (_nproc_limit(lim["nproc"]),) * 2),
            (resource.RLIMIT_FSIZE, (lim["fsize_mb"] * mb,) * 2),
            (resource.RLIMIT_NOFILE, (lim["nofile"],) * 2),
            (resource.RLIMIT_CORE, (0, 0)),
            (resource.RLIMIT_MEMLOCK, (0, 0)),
        ):
            resource.setrlimit(res, val)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes fail with EFBIG instead
        if STATE["root"]:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        elif STATE["userns"] and not _drop_capabilities():
            os._exit(0)  # never run a candidate with capabilities over our namespaces
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        if _SECCOMP is not None and not _install_seccomp():
            os._exit(0)  # promised in describe(): never run a candidate without the filter
        os.environ.clear()
        os.environ.update(
            {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
        )
        results = _run_job(job)
        data = json.dumps({"results": results}).encode()
        os.write(3, struct.pack(">I", len(data)))
        view = memoryview(data)
        while view:
            view = view[os.write(3, view) :]
    except BaseException:
        pass
    os._exit(0)


def _run_job(job: dict) -> list:
    import builtins
    import math

    glb: dict = {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(compile(job["code"], "<candidate>", "exec"), glb)
    except BaseException as exc:
        return [["load", type(exc).__name__, str(exc)[:200]]]
    results: list = []
    refs: dict = {"__builtins__": builtins, "math": math}
    for i, call in enumerate(job["calls"]):
        try:
            fn = glb[call["fn"]]
            args, kwargs = eval(call["args"], refs)
            value = fn(*args, **kwargs)
            refs[f"__v{i}"] = value
            results.append(["ok", _enc(value, [200_000])])
        except BaseException as exc:
            refs[f"__v{i}"] = None
            results.append(["err", type(exc).__name__, str(exc)[:200]])
    return results


# -- supervision of one job ----------------------------------------------------------------------


def _sweep(uid: int) -> None:
    """Kill every process of ``uid`` -- also those that left the process group -- and reap."""
    if not STATE["root"]:
        return
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.setgid(uid)
                os.setuid(uid)
                for _ in range(50):
                    os.kill(-1, signal.SIGKILL)  # Linux spares the caller itself
                    code = 1
            except ProcessLookupError:
                pass  # nothing (left) to kill
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WEXITSTATUS(status) == 0 or not _alive(uid):
            return
        _reap(time.monotonic() + 0.2)


def _alive(uid: int) -> bool:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    with open(f"/proc/{name}/stat", "rb") as fh:
                        if fh.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                            return True
            except OSError:
                continue
    return False


def _cg_others() -> list[int]:
    """Processes in our cgroup other than the zygote: exactly what a job left behind.

    Membership is inherited at fork and cannot be dropped without write access to the cgroup
    (root-owned), so unlike a process group or session, a candidate cannot leave it.
    """
    me = os.getpid()
    try:
        with open(os.path.join(str(STATE["cgroup"]), "cgroup.procs")) as fh:
            return [p for p in (int(x) for x in fh.read().split()) if p != me]
    except (OSError, ValueError):
        return [-1]  # unknown: make the caller fall back to the uid sweep


def _clean_up(uid: int) -> None:
    """Kill and reap everything the job started. Cheap when it started nothing (the usual case)."""
    if STATE["pidns"]:
        return  # the job's PID 1 is reaped: the kernel killed and reaped every other member
    if STATE["cgroup"]:
        for _ in range(200):
            others = _cg_others()
            if not others:
                return
            if others == [-1]:
                break
            for p in others:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            _reap(time.monotonic() + 0.05)
    if STATE["root"]:
        _sweep(uid)
    else:
        _kill_descendants()
    _reap(time.monotonic() + 1.0)


def _kill_descendants() -> None:
    """Without root or a cgroup: kill our children until none is left.

    The zygote is the child subreaper, so whatever a job spawned -- daemons included -- becomes
    our child once its parent dies; between jobs the zygote has no children of its own.
    """
    me = str(HOST_PID)  # /proc is the host's: parents are named by host pids
    for _ in range(200):
        kids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[1].decode() == me and fields[0] != b"Z":
                kids.append(int(name))
        if not kids:
            return
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
        _reap(time.monotonic() + 0.05)


def _reap(deadline: float) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)


def _wipe(workdir: str, uid: int) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    keep = os.path.dirname(workdir)
    if not STATE["mountns"] and STATE["root"]:
        # Fallback without a private tmpfs: remove what the job's uid left at the top of the
        # host's world-writable directories (deeper plants in other users' 0777 dirs remain).
        for d in WORLD_WRITABLE:
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.stat(follow_symlinks=False).st_uid != uid:
                        continue
                    if e.is_dir(follow_symlinks=False):
                        shutil.rmtree(e.path, ignore_errors=True)
                    else:
                        os.unlink(e.path)
                except OSError:
                    pass
        return
    if STATE["mountns"]:
        for d in WORLD_WRITABLE:
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for n in names:
                p = os.path.join(d, n)
                if p == keep:
                    continue
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    try:
                        os.unlink(p)
                    except OSError:
                        pass


def run_one(job: dict, uid: int, base: str, seq: int) -> dict:
    workdir = os.path.join(base, f"job{seq}")
    os.mkdir(workdir, 0o700)
    if STATE["root"]:
        os.chown(workdir, uid, uid)
    if STATE["cgroup"]:
        # the zygote's own pages are charged here too: add them to the job's budget
        _cg_limit(job["limits"]["job_memory_mb"] * 1024 * 1024 + _rss_kb() * 1024 + (32 << 20))
    _pids_limit(job["limits"]["nproc"])
    rfd, wfd = os.pipe()
    if STATE["pidns"] and not _new_job_pidns():
        os.close(rfd)
        os.close(wfd)
        raise OSError("could not make a PID namespace for the job")
    t0 = time.monotonic()
    try:
        pid = os.fork()
    finally:
        if STATE["pidns"]:
            _end_job_pidns()
    if pid == 0:
        _child(job, rfd, wfd, uid, workdir)
    os.close(wfd)
    lim = job["limits"]
    deadline = t0 + lim["wall_s"]
    cap = lim["result_bytes"]
    chunks: list[bytes] = []
    size = 0
    status = None
    timed_out = False
    try:
        pidfd = os.pidfd_open(pid)  # Linux >= 5.3: wake up exactly when the child exits
    except (OSError, AttributeError):
        pidfd = -1  # older kernels: poll waitpid every few milliseconds
    fds = [rfd] if pidfd < 0 else [rfd, pidfd]
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(fds, [], [], left if pidfd >= 0 else min(left, 0.005))
            if pidfd < 0 and status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done == pid:
                    status = st
                    ready.append(pidfd)
                    fds.append(pidfd)
            if rfd in ready:
                data = os.read(rfd, 65536)
                if not data:
                    fds.remove(rfd)
                else:
                    chunks.append(data)
                    size += len(data)
                    if size > cap:
                        break
            if pidfd in ready:
                if status is None:
                    _, status = os.waitpid(pid, 0)
                fds.remove(pidfd)
                # the child wrote before exiting: take what is already in the pipe
                os.set_blocking(rfd, False)
                while rfd in fds and size <= cap:
                    try:
                        data = os.read(rfd, 65536)
                    except BlockingIOError:
                        break
                    if not data:
                        break
                    chunks.append(data)
                    size += len(data)
                break
            if not fds:
                break
    finally:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        if status is None:
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = None
        _clean_up(uid)
        os.close(rfd)
        if pidfd >= 0:
            os.close(pidfd)
        _wipe(workdir, uid)
    elapsed = time.monotonic() - t0
    raw = b"".join(chunks)[:cap]
    sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else 0
    return {
        "raw": raw.decode("latin-1"),
        "timed_out": timed_out,
        "signal": sig,
        "elapsed": elapsed,
        "oversize": size > cap,
        "peak_bytes": _cg_peak() if STATE["cgroup"] else 0,
    }


def _rss_kb() -> int:
    try:
        with open("/proc/self/status") as fh:
            return int(next(ln for ln in fh if ln.startswith("VmRSS:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return 0


def _can_drop_to(uid: int) -> bool:
    """Whether a child can switch to ``uid`` (euid 0 is not enough without CAP_SETUID/SETGID)."""
    if os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def main() -> None:
    _isolate()
    _setup_cgroup()
    _preload()
    uid = int(sys.argv[1]) if len(sys.argv) > 1 else 65534
    STATE["root"] = _can_drop_to(uid)
    if not STATE["root"]:
        _degrade(
            "uid-drop", f"cannot switch to the sandbox uid {uid}: jobs run as uid {os.getuid()}"
        )
    _choose_nproc_guard()
    base = os.path.join("/tmp" if STATE["mountns"] else sys.argv[2], f"soarkit-sbx-{HOST_PID}")
    os.makedirs(base, mode=0o711, exist_ok=True)
    _prepare_landlock(base)
    if _SECCOMP is None:
        _degrade("seccomp", f"no filter written for the architecture {platform.machine()}")
    _send(
        {"ready": True, **STATE, "seccomp": _SECCOMP is not None, "uid": uid, "rss_kb": _rss_kb()}
    )
    try:
        _serve(uid, base)
    finally:  # also when the parent vanished mid-job (broken pipe): leave nothing behind
        _cleanup_zygote(base)


def _serve(uid: int, base: str) -> None:
    seq = 0
    while True:
        job = _recv()
        if job is None:
            break
        seq += 1
        try:
            reply = run_one(job, uid, base, seq)
        except Exception as exc:  # the zygote must answer every job
            reply = {
                "raw": "",
                "timed_out": False,
                "signal": 0,
                "elapsed": 0.0,
                "error": f"{type(exc).__name__}: {exc}",
            }
        _send(reply)


def _cleanup_zygote(base: str) -> None:
    shutil.rmtree(base, ignore_errors=True)
    for cg in dict.fromkeys((str(STATE["cgroup"]), str(STATE["pids_cgroup"]))):
        if not cg:
            continue
        try:  # leave it for its parent, then remove it (rmdir needs it empty)
            with open(os.path.join(os.path.dirname(cg), "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
            os.rmdir(cg)
        except OSError:
            pass


if __name__ == "__main__":
    main()
