"""Reads the local mail catcher (maildump) through its HTTP API."""
from __future__ import annotations

import email
import email.policy
import time
from dataclasses import dataclass
from email.message import EmailMessage

import requests


@dataclass
class CaughtMessage:
    id: int
    to: list[str]
    subject: str
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""

    def attachments(self) -> list[tuple[str, str, bytes]]:
        return [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
                for p in self.message.iter_attachments()]


class Mailbox:
    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")

    def summaries(self) -> list[dict]:
        r = requests.get(f"{self.api_url}/messages/", timeout=5)
        r.raise_for_status()
        return r.json()["messages"]

    def fetch(self, message_id: int) -> CaughtMessage:
        raw = requests.get(f"{self.api_url}/messages/{message_id}.eml", timeout=5)
        raw.raise_for_status()
        msg = email.message_from_bytes(raw.content, policy=email.policy.default)
        summary = requests.get(f"{self.api_url}/messages/{message_id}.json", timeout=5).json()
        return CaughtMessage(id=message_id, to=summary["recipients"]["to"], subject=str(msg["Subject"]), message=msg)

    def ids_to(self, address: str) -> list[int]:
        return sorted(m["id"] for m in self.summaries()
                      if address.lower() in [t.lower() for t in m["recipients"]["to"]])

    def messages_to(self, address: str) -> list[CaughtMessage]:
        """Every message to `address`, oldest first."""
        return [self.fetch(i) for i in self.ids_to(address)]

    def wait_for(self, address: str, count: int = 1, timeout_s: float = 20.0) -> list[CaughtMessage]:
        """Polls the summary list until `address` has at least `count` messages (a readiness probe,
        not a sleep), then fetches them once."""
        deadline = time.monotonic() + timeout_s
        while len(ids := self.ids_to(address)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{address}: se esperaban {count} correos y llegaron {len(ids)}")
            time.sleep(0.1)
        return [self.fetch(i) for i in ids]

    def latest(self, address: str, timeout_s: float = 20.0) -> CaughtMessage:
        return self.wait_for(address, 1, timeout_s)[-1]
