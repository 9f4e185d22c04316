"""One QEMU guest: a shell on a virtio console (hvc0), the kernel log on
the serial console, QMP for the monitor. A kernel without virtio console
support gets the shell on the serial console, as before."""
import os
import re
import socket
import subprocess
import threading
import time

from .qmp import QMP

from machines.common import qemu_devices

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


def shell_console_args(qemu, path):
    """QEMU options for the shell's virtio console on a socket at path, or
    none: a QEMU built without virtio-serial (an older build of our riscv
    one) would refuse them, and the shell stays on the serial console, as
    for a kernel without virtio console support."""
    if "virtio-serial-pci" not in qemu_devices(qemu):
        return []
    return ["-device", "virtio-serial-pci,id=memhp-vser",
            "-chardev", f"socket,id=memhp-shell,path={path},server=on,wait=off",
            "-device", "virtconsole,chardev=memhp-shell,bus=memhp-vser.0"]


class GuestError(Exception):
    """The guest died, hung or never became ready."""


class VM:
    def __init__(self, argv, workdir, name, boot_timeout=300):
        self.argv = argv
        self.name = name
        self.workdir = workdir
        self.boot_timeout = boot_timeout
        self.qmp_path = os.path.join(workdir, f"{name}.qmp")
        self.shell_path = os.path.join(workdir, f"{name}.shell")
        self.log_path = os.path.join(workdir, f"{name}.console.log")
        # the serial console: the kernel log (and the shell, without hvc0)
        self.buf = ""
        # the virtio console: the shell's own output
        self.sbuf = ""
        self.sock = None
        # "hvc" or "console": where the shell turned out to be
        self.chan = None
        self.lock = threading.Condition()
        self.proc = None
        self.qmp = None
        self.token = 0
        self.boot_seconds = None
        # what the guest is doing, for the runner's heartbeat
        self.current = "booting"

    # -- life cycle ---------------------------------------------------------
    def start(self):
        for path in (self.qmp_path, self.shell_path):
            if os.path.exists(path):
                os.unlink(path)
        shell = shell_console_args(self.argv[0], self.shell_path)
        argv = self.argv + [
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off"] + shell
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
        if shell:
            # QEMU listens before it runs the guest, as for QMP above
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.shell_path)
            self.shlogf = open(os.path.join(self.workdir,
                                            f"{self.name}.shell.log"),
                               "w", errors="replace")
            threading.Thread(target=self._shell_reader, daemon=True).start()
        self._wait_ready()
        self.boot_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self):
        """The shell says it is ready on hvc0, or (a kernel without virtio
        console support) on the serial console."""
        deadline = time.monotonic() + self.boot_timeout
        with self.lock:
            while self.chan is None:
                if READY + "\n" in self.sbuf:
                    self.chan = "hvc"
                elif READY + "\n" in self.buf:
                    self.chan = "console"
                elif not self.alive():
                    raise GuestError(f"QEMU exited ({self.proc.returncode}) "
                                     "waiting for boot to /init")
                elif time.monotonic() > deadline:
                    raise GuestError(f"timeout ({self.boot_timeout}s) waiting "
                                     "for boot to /init")
                else:
                    self.lock.wait(1.0)

    def _shell_reader(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            text = data.decode("utf-8", "replace").replace("\r", "")
            self.shlogf.write(text)
            self.shlogf.flush()
            with self.lock:
                self.sbuf += text
                self.lock.notify_all()
        with self.lock:
            self.lock.notify_all()

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
        if self.sock:
            self.sock.close()
            self.shlogf.close()
        self.logf.close()
        for path in (self.qmp_path, self.shell_path):
            if os.path.exists(path):
                os.unlink(path)

    # -- console ------------------------------------------------------------
    def _shell_text(self):
        return self.sbuf if self.chan == "hvc" else self.buf

    def expect(self, pattern, timeout=60, start=0, what=None):
        """Waits for pattern in the shell's text from offset start."""
        rx = re.compile(pattern if not isinstance(pattern, str) or
                        pattern != READY else re.escape(READY))
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                m = rx.search(self._shell_text(), start)
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
            start = len(self._shell_text())
        line = f'{{ {cmd}\n}} 2>&1; echo "@@END:$?:{tok}@@"\n'
        try:
            if self.chan == "hvc":
                self.sock.sendall(line.encode())
            else:
                self.proc.stdin.write(line.encode())
                self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise GuestError(f"QEMU is gone; could not run: {cmd}")
        m = self.expect(rf"@@END:(\d+):{tok}@@\n", timeout=timeout, start=start,
                        what=f"command `{cmd[:80]}`")
        out = self._shell_text()[start:m.start()]
        if self.chan == "console" and "dmesg" not in cmd:
            # Without hvc0: kernel messages on the shared console (a
            # clocksource warning under load, say) are not the command's
            # output; problems() still sees them in the buffer.
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
