"""One QEMU guest: serial console driven as a shell, QMP for the monitor."""
import os
import re
import subprocess
import threading
import time

from .qmp import QMP

READY = "@@MEMHP-READY@@"

# One kernel message record as printk puts it on the console (printk.time),
# possibly in the middle of a line of a command's output.
KMSG_RE = re.compile(r"\[ *\d+\.\d{6}\] [^\n]*\n")

# Kernel messages that fail any scenario (WARN, BUG, Oops, lockdep, panic).
PROBLEM_RE = re.compile(
    r"^(?:\[[ \d.]+\] )?("
    r"WARNING: CPU: \d+|WARNING: possible|WARNING: suspicious RCU|"
    r"BUG: |kernel BUG at|Oops|Unable to handle kernel|"
    r"general protection fault|Kernel panic|Internal error:|"
    r"INFO: task .* blocked|inconsistent lock state|"
    r"UBSAN:|KASAN:|"
    # Not the page dumps of an offline that cannot isolate or migrate a
    # page (it retries; failing that way is the documented answer for
    # memory in use): "unmovable page", "migration failure", and "isolation
    # failed" for a page with a passing reference (seen on 7.3).
    r"page dumped because(?!: (?:unmovable page|migration failure|isolation failed)))",
    re.M)


class GuestError(Exception):
    """The guest died, hung or never became ready."""


class VM:
    def __init__(self, argv, workdir, name, boot_timeout=300):
        self.argv = argv
        self.name = name
        self.workdir = workdir
        self.boot_timeout = boot_timeout
        self.qmp_path = os.path.join(workdir, f"{name}.qmp")
        self.log_path = os.path.join(workdir, f"{name}.console.log")
        self.buf = ""
        self.lock = threading.Condition()
        self.proc = None
        self.qmp = None
        self.token = 0
        self.boot_seconds = None
        # what the guest is doing, for the runner's heartbeat
        self.current = "booting"

    # -- life cycle ---------------------------------------------------------
    def start(self):
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        argv = self.argv + ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        with open(os.path.join(self.workdir, f"{self.name}.cmdline"), "w") as f:
            f.write(" ".join(argv) + "\n")
        self.logf = open(self.log_path, "w", errors="replace")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        threading.Thread(target=self._reader, daemon=True).start()
        try:
            self.qmp = QMP(self.qmp_path)
        except OSError:
            # QEMU refused its options: say what it said.
            time.sleep(0.5)
            with self.lock:
                said = self.buf.strip()[-500:]
            raise GuestError(f"QEMU did not start: {said or 'no output'}")
        self.expect(READY, timeout=self.boot_timeout, what="boot to /init")
        self.boot_seconds = time.monotonic() - t0
        return self

    def _reader(self):
        out = self.proc.stdout
        while True:
            data = os.read(out.fileno(), 65536)
            if not data:
                break
            text = data.decode("utf-8", "replace").replace("\r", "")
            self.logf.write(text)
            self.logf.flush()
            with self.lock:
                self.buf += text
                self.lock.notify_all()
        with self.lock:
            self.lock.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stops QEMU (quit over QMP, kill if that does not work)."""
        if self.proc is None:
            return
        if self.alive():
            try:
                self.qmp.execute("quit")
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.qmp:
            self.qmp.close()
        self.logf.close()
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)

    # -- console ------------------------------------------------------------
    def expect(self, pattern, timeout=60, start=0, what=None):
        """Waits for pattern in the console text from offset start."""
        rx = re.compile(pattern if not isinstance(pattern, str) or
                        pattern != READY else re.escape(READY))
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                m = rx.search(self.buf, start)
                if m:
                    return m
                if not self.alive():
                    raise GuestError(f"QEMU exited ({self.proc.returncode}) "
                                     f"waiting for {what or pattern}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GuestError(f"timeout ({timeout}s) waiting for "
                                     f"{what or pattern}")
                self.lock.wait(min(left, 1.0))

    def run(self, cmd, timeout=120):
        """Runs one shell command line in the guest: returns (rc, output)."""
        self.token += 1
        tok = self.token
        self.current = f"`{' '.join(cmd.split())[:70]}`"
        with self.lock:
            start = len(self.buf)
        line = f'{{ {cmd}\n}} 2>&1; echo "@@END:$?:{tok}@@"\n'
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise GuestError(f"QEMU is gone; could not run: {cmd}")
        m = self.expect(rf"@@END:(\d+):{tok}@@\n", timeout=timeout, start=start,
                        what=f"command `{cmd[:80]}`")
        out = self.buf[start:m.start()]
        if "dmesg" not in cmd:
            # Kernel messages on the shared console (a clocksource warning
            # under load, say) are not the command's output; problems()
            # still sees them in the buffer.
            out = KMSG_RE.sub("", out)
        return int(m.group(1)), out

    def sh(self, cmd, timeout=120):
        """Like run() but raises when the command fails; returns output."""
        rc, out = self.run(cmd, timeout)
        if rc:
            raise GuestError(f"`{cmd}` exited {rc}: {out.strip()[-500:]}")
        return out

    def problems(self):
        """Kernel WARN/BUG/Oops/lockdep lines seen on the console so far."""
        with self.lock:
            text = self.buf
        found = []
        for m in PROBLEM_RE.finditer(text):
            end = text.find("\n", m.start())
            found.append(text[m.start():end if end >= 0 else None].strip())
        return found
