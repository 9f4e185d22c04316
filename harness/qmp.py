"""A minimal QMP client: one Unix socket, synchronous commands, events kept."""
import json
import select
import socket
import time


class QMPError(Exception):
    """QEMU answered a command with an error."""

    def __init__(self, cmd, error):
        self.cmd = cmd
        self.error_class = error.get("class", "")
        self.desc = error.get("desc", "")
        super().__init__(f"{cmd}: {self.error_class}: {self.desc}")


class QMP:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.timeout = timeout
        self.rbuf = b""
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError(f"not a QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def _read(self, timeout=None):
        """One JSON message; socket.timeout when none came within timeout
        (a socket file object would be unusable after a timeout)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.rbuf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise socket.timeout("no QMP message in time")
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP connection closed")
            self.rbuf += data
        line, _, self.rbuf = self.rbuf.partition(b"\n")
        return json.loads(line)

    def execute(self, cmd, **args):
        """Runs cmd; returns its 'return' value or raises QMPError."""
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            resp = self._read()
            if "event" in resp:
                self.events.append(resp)
            elif "error" in resp:
                raise QMPError(cmd, resp["error"])
            elif "return" in resp:
                return resp["return"]

    def wait_event(self, name, timeout=60, match=None):
        """Waits for an event called name (already received ones count)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev["event"] == name and (match is None or match(ev)):
                    self.events.remove(ev)
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name} event within {timeout}s")
            try:
                self.events.append(self._read(left))
            except socket.timeout:
                pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
