"""Hostile candidate programs for the code sandbox (shared by the adversarial tests and docs).

Each case is ``(name, problem, code)``; every one must be judged *not correct*:

* ``inc`` cases answer ``def inc(x)`` (tests: inc(1)==2, inc(7)==8, inc(-3)==-2; only the first is
  shown) and try to fake a pass or to harm the host while answering wrongly;
* ``probe`` cases answer ``def probe()`` whose only test is ``probe() == 'leak'``: the program
  returns ``'leak'`` only if its attack *succeeded*, so an escape shows up as a wrong verdict.

Not a test module itself (no ``test_`` prefix). Placeholders ``{PORT}``, ``{SENTINEL}`` and
``{HOSTPID}`` (and ``{SENTINEL_NAME}``, ``{ZYGOTEPIDS}``) are filled in by the test with a loopback
port the test listens on, a host path that must never appear, the pid of the test process and
the list of the zygotes' host pids.
"""

from __future__ import annotations

INC = "inc"
PROBE = "probe"

_LEAK = "\n    return 'leak'\n"

CASES: list[tuple[str, str, str]] = [
    # -- fake passes ----------------------------------------------------------------------------
    ("sys-exit-top-level", INC, "import sys\nsys.exit(0)\ndef inc(x):\n    return x"),
    ("os-exit-top-level", INC, "import os\nos._exit(0)\ndef inc(x):\n    return x"),
    ("os-exit-in-function", INC, "import os\ndef inc(x):\n    os._exit(0)"),
    ("sys-exit-in-function", INC, "import sys\ndef inc(x):\n    sys.exit(0)"),
    ("raise-systemexit", INC, "def inc(x):\n    raise SystemExit(0)"),
    ("keyboard-interrupt", INC, "def inc(x):\n    raise KeyboardInterrupt"),
    ("print-passed", INC, "print('PASSED')\nprint('All tests passed')\ndef inc(x):\n    return x"),
    (
        "patch-assertionerror",
        INC,
        "import builtins\nclass Nope(Exception): pass\nbuiltins.AssertionError = Nope\n"
        "def inc(x):\n    return x",
    ),
    (
        "patch-unittest",
        INC,
        "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None\n"
        "unittest.TestCase.assertTrue = lambda *a, **k: None\ndef inc(x):\n    return x",
    ),
    (
        "always-equal-object",
        INC,
        "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
        "def inc(x):\n    return A()",
    ),
    (
        "systemexit-in-eq",
        INC,
        "import sys\nclass A:\n    def __eq__(self, o): sys.exit(0)\ndef inc(x):\n    return A()",
    ),
    (
        "int-subclass-always-equal",
        INC,
        "class I(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\n"
        "def inc(x):\n    return I(0)",
    ),
    (
        "str-subclass",
        INC,
        "class S(str):\n    def __eq__(self, o): return True\ndef inc(x):\n    return S('2')",
    ),
    (
        "patched-type-builtin",
        INC,
        "import builtins\nclass A:\n    def __eq__(self, o): return True\n"
        "    def __str__(self): return '0'\n"
        "builtins.type = lambda v: int\ndef inc(x):\n    return A()",
    ),
    (
        "forge-result-channel",
        INC,
        'import os, struct\nmsg = b\'{"results": [["ok", true], ["ok", true], ["ok", true]]}\'\n'
        "os.write(3, struct.pack('>I', len(msg)) + msg)\nos._exit(0)",
    ),
    (
        "forge-then-continue",
        INC,
        "import os\nos.write(3, b'PASS' * 100)\ndef inc(x):\n    return x",
    ),
    (
        "close-result-fd",
        INC,
        "import os\nos.close(3)\ndef inc(x):\n    return x + 1",
    ),
    (
        "patch-json-dumps",
        INC,
        'import json\njson.dumps = lambda *a, **k: \'{"results": [["ok", true]]}\'\n'
        "def inc(x):\n    return x",
    ),
    (
        "atexit-pass",
        INC,
        "import atexit\natexit.register(lambda: print('OK'))\ndef inc(x):\n    return None",
    ),
    ("return-generator", INC, "def inc(x):\n    yield x + 1"),
    ("return-notimplemented", INC, "def inc(x):\n    return NotImplemented"),
    (
        "deeply-nested-return",
        INC,
        "def inc(x):\n    v = []\n    for _ in range(100000):\n        v = [v]\n    return v",
    ),
    ("huge-string-return", INC, "def inc(x):\n    return 'x' * (300 * 1024 * 1024)"),
    ("huge-int-return", INC, "def inc(x):\n    return 7 ** 100000"),
    ("syntax-bomb", INC, "def inc(x):\n    return " + "(" * 5000 + "x" + ")" * 5000),
    # -- resources -----------------------------------------------------------------------------
    ("infinite-loop-top-level", INC, "while True:\n    pass"),
    ("infinite-loop-in-function", INC, "def inc(x):\n    while True:\n        x += 1"),
    ("sleep-forever", INC, "import time\ndef inc(x):\n    time.sleep(10000)"),
    (
        "ignore-signals-busy",
        INC,
        "import signal\nfor s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGINT):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass",
    ),
    ("sigstop-self", INC, "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)"),
    (
        "fork-bomb",
        INC,
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    ),
    (
        "daemonised-fork-bomb",
        INC,
        "import os\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        try:\n"
        "            os.fork()\n        except OSError:\n            pass\nos._exit(0)",
    ),
    ("memory-bomb-at-once", INC, "x = bytearray(10 ** 10)\ndef inc(x):\n    return x + 1"),
    (
        "memory-bomb-gradual",
        INC,
        "a = []\nwhile True:\n    a.append(bytearray(10 ** 7))",
    ),
    (
        "memory-bomb-many-processes",
        INC,
        "import os, time\nfor _ in range(8):\n    if os.fork() == 0:\n"
        "        b = bytearray(400 * 1024 * 1024)\n        time.sleep(30)\ntime.sleep(30)",
    ),
    (
        "deep-recursion-segfault",
        INC,
        "import sys\nsys.setrecursionlimit(10 ** 7)\ndef r(n):\n    return r(n + 1) + 1\n"
        "def inc(x):\n    return r(0)",
    ),
    ("deep-recursion", INC, "def inc(x):\n    return inc(x) + 1"),
    (
        "threads-busy",
        INC,
        "import threading\ndef spin():\n    while True:\n        pass\n"
        "for _ in range(200):\n    try:\n        threading.Thread(target=spin).start()\n"
        "    except RuntimeError:\n        break\ndef inc(x):\n    return x",
    ),
    (
        "stdout-flood",
        INC,
        "import sys\ndef inc(x):\n    while True:\n        sys.stdout.write('x' * 65536)",
    ),
    (
        "stderr-flood",
        INC,
        "import sys\nfor _ in range(100000):\n    sys.stderr.write('y' * 65536)\ndef inc(x):\n"
        "    return x",
    ),
    (
        "disk-fill-cwd",
        INC,
        "with open('big', 'wb') as f:\n    while True:\n        f.write(b'z' * 1048576)",
    ),
    (
        "disk-fill-tmp-many-files",
        INC,
        "i = 0\nwhile True:\n    open(f'/tmp/f{i}', 'wb').write(b'q' * 1048576)\n    i += 1",
    ),
    ("ctypes-segfault", INC, "import ctypes\nctypes.string_at(0)"),
    (
        "kill-minus-one",
        INC,
        "import os, signal\ndef inc(x):\n    os.kill(-1, signal.SIGKILL)",
    ),
    (
        "spawn-shell-background",
        INC,
        "import os\nos.system('sleep 1000 &')\ndef inc(x):\n    return x",
    ),
    # -- escapes, judged through probe() == 'leak' -------------------------------------------------
    (
        # getppid() is 0 in a PID namespace of the job's own (the zygote is outside it)
        "kill-parent-zygote",
        PROBE,
        "import os, signal\ndef probe():\n    ppid = os.getppid()\n    assert ppid > 0\n"
        "    os.kill(ppid, signal.SIGKILL)" + _LEAK,
    ),
    (
        "kill-zygotes-by-host-pid",
        PROBE,
        "import os, signal\ndef probe():\n    for p in {ZYGOTEPIDS}:\n"
        "        os.kill(p, signal.SIGKILL)" + _LEAK,
    ),
    (
        "kill-host-test-process",
        PROBE,
        "import os, signal\ndef probe():\n    os.kill({HOSTPID}, signal.SIGKILL)" + _LEAK,
    ),
    ("setuid-root", PROBE, "import os\ndef probe():\n    os.setuid(0)" + _LEAK),
    (
        "read-etc-shadow",
        PROBE,
        "def probe():\n    open('/etc/shadow').read()" + _LEAK,
    ),
    (
        "list-root-home",
        PROBE,
        "import os\ndef probe():\n    seen = set(os.listdir('/root')) | set(os.listdir('/home'))\n"
        "    assert seen - {'.pyenv'}" + _LEAK,
    ),
    ("read-home-file", PROBE, "def probe():\n    open('/root/.bashrc').read()" + _LEAK),
    (
        "read-host-environ",
        PROBE,
        "def probe():\n    open('/proc/{HOSTPID}/environ').read()" + _LEAK,
    ),
    (
        "env-secret",
        PROBE,
        "import os\ndef probe():\n    assert any('SOARKIT_TEST_SECRET' in v or 's3cret' in v "
        "for kv in os.environ.items() for v in kv)" + _LEAK,
    ),
    (
        # allowed, but only into the zygote's private tmpfs: the test checks the host's /tmp
        "write-host-tmp",
        INC,
        "def inc(x):\n    open('{SENTINEL}', 'w').write('pwned')\n    return x",
    ),
    (
        "write-dev-shm-and-var-tmp",
        INC,
        "def inc(x):\n    open('/dev/shm/{SENTINEL_NAME}', 'w').write('pwned')\n"
        "    open('/var/tmp/{SENTINEL_NAME}', 'w').write('pwned')\n    return x",
    ),
    (
        "write-repo",
        PROBE,
        "def probe():\n    open('/work/main/PWNED_BY_CANDIDATE', 'w').write('x')" + _LEAK,
    ),
    (
        "tcp-connect-loopback",
        PROBE,
        "import socket\ndef probe():\n    socket.create_connection(('127.0.0.1', {PORT}), 1)"
        + _LEAK,
    ),
    (
        "udp-send-loopback",
        PROBE,
        "import socket\ndef probe():\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    s.sendto(b'x', ('127.0.0.1', {PORT}))" + _LEAK,
    ),
    (
        "dns-lookup",
        PROBE,
        "import socket\ndef probe():\n    socket.getaddrinfo('example.com', 80)" + _LEAK,
    ),
    (
        "raw-packet-socket",
        PROBE,
        "import socket\ndef probe():\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)" + _LEAK,
    ),
    (
        "ipv6-socket",
        PROBE,
        "import socket\ndef probe():\n    socket.socket(socket.AF_INET6).connect(('::1', {PORT}))"
        + _LEAK,
    ),
    (
        "user-namespace",
        PROBE,
        "import ctypes\ndef probe():\n    assert ctypes.CDLL(None).unshare(0x10000000) == 0"
        + _LEAK,
    ),
    (
        "ptrace-parent",
        PROBE,
        "import ctypes, os\ndef probe():\n"
        "    assert ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0) == 0" + _LEAK,
    ),
    (
        # x32 ABI numbers share x86_64's audit arch: a classic seccomp bypass
        "x32-socket-syscall",
        PROBE,
        "import ctypes\ndef probe():\n"
        "    assert ctypes.CDLL(None).syscall(41 | 0x40000000, 2, 1, 0) >= 0" + _LEAK,
    ),
    (
        "lower-oom-score",
        PROBE,
        "def probe():\n    open('/proc/self/oom_score_adj', 'w').write('-1000')" + _LEAK,
    ),
]

# Programs that attack at import time still define the function afterwards, so that the
# verifier's cheap "is the function defined at all?" pre-check cannot short-circuit them: every
# case really runs in the sandbox.
CASES = [
    (name, kind, code if f"def {kind}(" in code else f"{code}\ndef {kind}(*a):\n    return 1")
    for name, kind, code in CASES
]
