"""Slow clients (issue 21, item 7): 16 connections trickling an upload to /registro one byte every 2 s
made 6 of 10 `GET /registro` time out: the balancer passed each request on as it arrived, so every
trickler held one of the replicas' gunicorn threads while it lasted. The balancer now forwards a
request only once it has it whole (`http-request wait-for-body`), and `timeout http-request` bounds
the wait, body included: the tricklers tie up the balancer's buffers, never a replica's threads, and
are answered 408."""
from __future__ import annotations

import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

import requests

from tools.stack.prod import registro_threads

# At least the issue's 16, and more than the replicas' threads (3 workers × 4 threads × 2 replicas
# here): fewer would leave a thread free and pass without the buffering (16: 10 of 10 answered).
SLOW_CLIENTS = max(16, registro_threads() + 8)
GETS = 10
# A page the replicas answer in well under a second; a request stuck behind the tricklers waits
# for a free thread, i.e. until one of them gives up.
GET_TIMEOUT_S = 5.0
TRICKLE_EVERY_S = 2.0


class Trickler:
    """One client sending a multipart upload's headers at once, then its body one byte at a time."""

    def __init__(self, url: str, ca_bundle: str) -> None:
        parts = urlsplit(url)
        context = ssl.create_default_context(cafile=ca_bundle)
        raw = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.sock = context.wrap_socket(raw, server_hostname=parts.hostname)
        self.sock.settimeout(0.01)
        self.sock.sendall((f"POST /registro HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                           "Content-Type: multipart/form-data; boundary=lento\r\n"
                           "Content-Length: 200000\r\n\r\n").encode())
        self.answer = b""

    def step(self) -> bool:
        """Sends one more byte unless the server already answered; True once it has."""
        try:
            chunk = self.sock.recv(4096)
            if chunk:
                self.answer += chunk
            else:
                return True
        except (TimeoutError, ssl.SSLWantReadError, socket.timeout):
            pass
        except OSError:
            return True
        if self.answer:
            return True
        try:
            self.sock.sendall(b"-")
        except OSError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def test_get_registro_answers_while_more_clients_than_threads_trickle_uploads(env):
    base = env["REGISTRO_PUBLIC_URL"].rstrip("/")
    ca_bundle = env["REQUESTS_CA_BUNDLE"]
    tricklers = [Trickler(base, ca_bundle) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()
    done: set[int] = set()

    def trickle() -> None:
        while not stop.is_set() and len(done) < len(tricklers):
            for i, t in enumerate(tricklers):
                if i not in done and t.step():
                    done.add(i)
            stop.wait(TRICKLE_EVERY_S)

    feeder = threading.Thread(target=trickle, daemon=True)
    feeder.start()
    try:
        stop.wait(2 * TRICKLE_EVERY_S)  # every trickler has sent its headers and some body
        outcomes: list[str] = []
        took: list[float] = []
        session = requests.Session()
        session.verify = ca_bundle
        for _ in range(GETS):
            started = time.monotonic()
            try:
                r = session.get(f"{base}/registro", timeout=GET_TIMEOUT_S)
                outcomes.append(str(r.status_code))
            except requests.Timeout:
                outcomes.append("timeout")
            took.append(time.monotonic() - started)
        print(f"\nGET /registro con {SLOW_CLIENTS} clientes lentos: {outcomes}; "
              f"ms: {[round(t * 1000) for t in took]}")
        assert outcomes == ["200"] * GETS, (f"{outcomes.count('timeout')} de {GETS} GET /registro sin respuesta: "
                                            f"{outcomes}, ms {[round(t * 1000) for t in took]}")

        # Held at the balancer, the tricklers are answered by it once `timeout http-request` passes.
        deadline = time.monotonic() + 60
        while len(done) < len(tricklers) and time.monotonic() < deadline:
            stop.wait(0.5)
        statuses = [t.answer.split(b"\r\n", 1)[0].decode(errors="replace") for t in tricklers]
        assert all(s.startswith("HTTP/1.1 408") for s in statuses), statuses
        assert all("La solicitud tardó demasiado".encode() in t.answer for t in tricklers), tricklers[0].answer[:500]
    finally:
        stop.set()
        feeder.join(timeout=10)
        for t in tricklers:
            t.close()
