"""A switchable OpenAI-compatible server for the remote fault tests, and what each fault says.

:class:`FaultServer` answers chat completions as its current behaviour says: it hangs before
its first byte or mid-stream, drops the connection before answering or mid-stream, or sends
garbage (an HTML page, an event that is not JSON). Switched to ``proxy``, it passes requests to
a real ``transformers serve`` instead of writing a well-formed reply itself, asking it for
exactly ``max_tokens`` tokens (random weights end when they like).

:data:`REMOTE_FAULTS` holds the message the user reads for each fault, :data:`PARTIAL` what each
mid-stream fault lets through before it, and :func:`remote_message` the regular expression a
whole message matches against a given server.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["HUNG", "PARTIAL", "REMOTE_FAULTS", "FaultServer", "remote_message"]


class _FaultHandler(BaseHTTPRequestHandler):
    """Answers chat completions as the server's current ``behaviour`` says."""

    server: FaultServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        self.body = self.rfile.read(int(self.headers.get("content-length", "0")))
        getattr(self, f"_{self.server.behaviour}")()

    def _head(self, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Connection", "close")
        self.end_headers()

    def _events(self, *lines: str) -> None:
        self._head("text/event-stream; charset=utf-8")
        for line in lines:
            self.wfile.write(f"{line}\n\n".encode())
            self.wfile.flush()

    @staticmethod
    def _chunk(content: str, finish: str | None = None) -> str:
        choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
        return "data: " + json.dumps({"object": "chat.completion.chunk", "choices": [choice]})

    def _proxy(self) -> None:
        """Pass the request to the real server as is, but for the model it names (the tiny
        Gemma3's folder) and an exact answer length (random weights end when they like)."""
        body = json.loads(self.body)
        body["model"] = self.server.upstream_model
        length = body["max_tokens"]
        body["generation_config"] = json.dumps(
            {"max_new_tokens": length, "min_new_tokens": length}
        )
        with httpx.stream(
            "POST", self.server.upstream, json=body, timeout=60, trust_env=False
        ) as response:
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", ""))
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in response.iter_raw():
                self.wfile.write(chunk)
                self.wfile.flush()

    def _hang(self) -> None:
        self.server.release.wait(60)

    def _hang_mid(self) -> None:
        self._events(self._chunk("Findings:"))
        self.server.release.wait(60)

    def _drop(self) -> None:
        self.close_connection = True  # say nothing, hang up

    def _drop_mid(self) -> None:
        self._events(self._chunk("Findings:"), self._chunk("\nLungs:"))

    def _html(self) -> None:
        self._head("text/html")
        self.wfile.write(b"<html><body>502 Bad Gateway</body></html>")

    def _badjson(self) -> None:
        self._events(self._chunk("Findings:"), "data: {not json")


class FaultServer(ThreadingHTTPServer):
    """An OpenAI-compatible server whose behaviour a test switches: a fault, or ``proxy`` to
    the real ``transformers serve`` at ``upstream`` (its chat completions URL)."""

    daemon_threads = True

    def __init__(self, upstream: str, upstream_model: str) -> None:
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.upstream, self.upstream_model = upstream, upstream_model
        self.behaviour = "proxy"
        self.release = threading.Event()  # ends the hangs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def switch(self, behaviour: str) -> None:
        if behaviour == "proxy":
            self.release.set()  # hung requests end (their clients have gone)
            self.release = threading.Event()
        self.behaviour = behaviour


HUNG = (
    r"URL sent nothing for 1 s \(timeout\): the server is hung or overloaded; if the model is "
    r"just slow to start answering, raise the timeout \(RADLENS_REMOTE_TIMEOUT, seconds\)\."
)
# What the user reads for each fault; URL stands for the chat completions URL.
REMOTE_FAULTS = {
    "hang": HUNG,
    "hang_mid": HUNG,
    "drop": (
        r"Connection to URL dropped before the answer was complete: Server disconnected "
        r"without sending a response\."
    ),
    "drop_mid": (
        r"URL closed the stream before the answer was complete \(no finish_reason and no "
        r"\[DONE\]\)\."
    ),
    "html": (
        r"URL sent text/html instead of an event stream or JSON; is it an OpenAI-compatible "
        r"server\? It began: '<html><body>502 Bad Gateway</body></html>'"
    ),
    "badjson": r"URL sent something that is not a JSON object: '\{not json'",
}


# What each mid-stream fault lets through before it.
PARTIAL = {"hang_mid": "Findings:", "drop_mid": "Findings:\nLungs:", "badjson": "Findings:"}


def remote_message(fault: FaultServer, behaviour: str) -> str:
    """The regular expression the whole message of ``behaviour`` matches."""
    url = re.escape(f"{fault.url}/chat/completions")
    return "^" + REMOTE_FAULTS[behaviour].replace("URL", url) + "$"
