"""Start the web app with secure defaults.

Loopback only unless ``--auth`` (or ``RADLENS_AUTH``) is given; no share links; analytics off;
uploads capped; compressed pixel data decoded in worker processes under a deadline
(:mod:`dicom_io.pixels.decode_guard`); Gradio's temporary files kept in a private folder removed at
exit. The scripting API (``/ask``, ``/draft_report`` for ``gradio_client``) is offered only
without ``--auth``, that is on loopback: a server behind a login lists and runs no API endpoint.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.origin_guard import LOOPBACK_NAMES, OriginGuard, allowed_hosts
from dicom_io.errors import InvalidArgumentError
from dicom_io.pixels.decode_guard import SERVER_TIMEOUT, configure_decode_guard, timeout_from_env

if TYPE_CHECKING:
    from app.services import Services

__all__ = [
    "DEMO_STUDY",
    "QUEUE",
    "check_binding",
    "launch",
    "parse_auth",
    "serve",
    "server_services",
]

DEMO_STUDY = Path(__file__).resolve().parents[1] / "assets" / "demo" / "chest_pa_cr.dcm"
# GPU work one at a time; at most this many requests wait (users see their position).
QUEUE: dict[str, Any] = {"default_concurrency_limit": 1, "max_size": 32}


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``USER:PASS`` (from the argument, else ``RADLENS_AUTH``) as a pair, or None."""
    raw = auth if auth is not None else os.environ.get("RADLENS_AUTH")
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise InvalidArgumentError("--auth must be USER:PASS with both parts non-empty.")
    return user, password


def _is_loopback(host: str) -> bool:
    """127.0.0.1, ::1 and localhost only: other 127.x addresses are loopback too, but a page
    can reach them by names Gradio does not guard (see app.origin_guard)."""
    return host.strip().lower() in LOOPBACK_NAMES


def check_binding(host: str, auth: tuple[str, str] | None) -> None:
    """Refuse to listen beyond this machine without a password."""
    if not _is_loopback(host) and auth is None:
        raise InvalidArgumentError(
            f"--host {host} exposes RadLens to the network: give --auth USER:PASS "
            "(or set RADLENS_AUTH), or bind 127.0.0.1."
        )


def _private_temp_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="radlens-"))
    path.chmod(0o700)
    atexit.register(shutil.rmtree, path, True)
    return path


def server_services(
    auth: tuple[str, str] | None,
    study: str | Path | None = None,
    model: str | None = None,
    precision: str = "auto",
    device: str | None = None,
) -> Services:
    """The services ``radlens serve`` runs with: the demo study unless ``study`` is given, and
    the scripting API only when there is no login (``auth`` None)."""
    from app.services import Services

    return Services(
        initial_study=Path(study) if study else DEMO_STUDY,
        model_id=model,
        precision=precision,
        device=device,
        api=auth is None,
    )


def _exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, systemd, Docker) a normal exit, so ``atexit`` removes the
    private temporary folder holding uploads and exports."""

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up
        sys.exit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    study: str | None = None,
    model: str | None = None,
    precision: str = "auto",
    device: str | None = None,
    allow_hosts: tuple[str, ...] = (),
) -> int:
    """Build the UI and serve it until interrupted (Ctrl-C or SIGTERM). Returns the exit code.

    ``allow_hosts``: more host names (or addresses) clients may use to reach the server, such as
    its DNS name behind a hospital's proxy (see :mod:`app.origin_guard`)."""
    if ":" in host:
        # Gradio 6 builds its own start-up URL as http://HOST:PORT, which an IPv6 literal makes
        # invalid (httpx.InvalidURL): refuse it in one line instead of crashing at start.
        raise InvalidArgumentError(
            f"--host {host}: IPv6 addresses are not supported by the web server; use "
            "127.0.0.1 or localhost (or 0.0.0.0 with --auth for the network)."
        )
    credentials = parse_auth(auth)
    check_binding(host, credentials)
    _exit_on_sigterm()
    # A decoder that hangs or crashes on a damaged upload must not stop the server.
    guard = configure_decode_guard(timeout_from_env(SERVER_TIMEOUT))
    if guard is not None:
        guard.warm()  # the demo study is compressed: its first view should not wait for it
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(_private_temp_dir())
    from app.ui import build_ui

    services = server_services(credentials, study, model, precision, device)
    print(f"RadLens on http://{host}:{port}", file=sys.stderr)
    launch(build_ui(services), host, port, auth=credentials, allow_hosts=allow_hosts)
    return 0


def launch(
    blocks: Any,
    host: str,
    port: int,
    auth: tuple[str, str] | None = None,
    prevent_thread_lock: bool = False,
    queue: dict[str, Any] | None = None,
    allow_hosts: tuple[str, ...] = (),
    **overrides: Any,
) -> None:
    """Queue and launch ``blocks`` with RadLens' settings; ``queue`` replaces keys of
    :data:`QUEUE` (``max_size``, ...) and ``overrides`` replace launch options."""
    from starlette.middleware import Middleware

    from app.ui import launch_options

    options = {**launch_options(), "auth": auth, **overrides}
    guard = Middleware(OriginGuard, hosts=allowed_hosts(host, allow_hosts))  # type: ignore[arg-type]
    blocks.queue(**{**QUEUE, **(queue or {})}).launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=prevent_thread_lock,
        app_kwargs={"middleware": [guard]},
        **options,
    )
