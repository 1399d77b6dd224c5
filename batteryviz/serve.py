"""``batteryviz serve``: the dashboard on a Panel server, for one person or a whole lab.

* ``--auth none`` (default): one local workspace (user ``local``); the server listens on
  localhost only unless told otherwise.
* ``--auth basic``: users and *hashed* passwords in a credentials file (``batteryviz user add``
  writes it; PBKDF2-SHA256, 600,000 iterations, a random salt per user). Panel's own
  ``--basic-auth`` compares plain-text passwords, so batteryviz brings its login handler.
* ``--auth oauth``: any of Panel's OAuth providers (``--oauth-provider github`` …).

With auth on, a cookie secret is required (``--cookie-secret`` or ``BATTERYVIZ_COOKIE_SECRET``),
Panel's ``/admin`` page is served to admins only, and each user gets a private workspace.
The websocket origin is never ``*``.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from .login import PBKDF2_ITERATIONS, hash_password, verify_password  # noqa: F401 - the credentials' hashing

#: The cookie holding a browser's server-side session token (:mod:`batteryviz.sessions`).
SESSION_COOKIE = "batteryviz_session"
AUTH_MODES = ("none", "basic", "oauth")


def default_workspace() -> str:
    """``BATTERYVIZ_WORKSPACE``, else ``~/.batteryviz/workspace``."""
    return os.environ.get("BATTERYVIZ_WORKSPACE") or str(Path.home() / ".batteryviz" / "workspace")


# -- credentials ----------------------------------------------------------------------------------
def load_credentials(path: str | os.PathLike) -> dict:
    """``{"users": {name: {"password": hash, "admin": bool}}}`` from ``path``, checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: credentials file not found; create it with `batteryviz user add {path} NAME`"
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ValueError(f'{path}: expected {{"users": {{name: {{"password": hash}}}}}}')
    for name, entry in users.items():
        if not isinstance(entry, dict) or not str(entry.get("password", "")).startswith(
            "pbkdf2_sha256$"
        ):
            raise ValueError(
                f"{path}: user {name!r} has no hashed password; set one with `batteryviz user add`"
            )
    return data


def add_user(path: str | os.PathLike, name: str, password: str, admin: bool = False) -> None:
    """Add or update a user in a credentials file (created with mode 600 when missing)."""
    from .export import atomic_path

    path = Path(path)
    data = load_credentials(path) if path.exists() else {"users": {}}
    data["users"][name] = {"password": hash_password(password), "admin": bool(admin)}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o600)


# -- server ---------------------------------------------------------------------------------------
@dataclass
class ServeConfig:
    """Everything a server process needs to build a session."""

    workspace: str = field(default_factory=default_workspace)
    auth: str = "none"
    credentials: str | None = None
    cookie_secret: str | None = None
    admins: tuple[str, ...] = ()
    max_upload_mb: int = 500
    oauth_provider: str | None = None
    oauth_key: str | None = None
    oauth_secret: str | None = None
    oauth_redirect_uri: str | None = None
    oauth_encryption_key: str | None = None
    sessions: str | None = None

    def check(self) -> None:
        """Refuse configurations that would be unsafe or could not work, saying what to do."""
        if self.auth not in AUTH_MODES:
            raise ValueError(f"--auth {self.auth!r}: choose one of {', '.join(AUTH_MODES)}")
        if self.auth != "none":
            self.cookie_secret = self.cookie_secret or os.environ.get("BATTERYVIZ_COOKIE_SECRET")
            if not self.cookie_secret or len(self.cookie_secret) < 16:
                raise ValueError(
                    "auth needs a cookie secret of at least 16 characters: --cookie-secret or "
                    "BATTERYVIZ_COOKIE_SECRET (e.g. `python -c 'import secrets; "
                    "print(secrets.token_hex(32))'`)"
                )
        if self.auth == "basic":
            if not self.credentials:
                raise ValueError(
                    "--auth basic needs --credentials FILE (create it with `batteryviz user add "
                    "FILE NAME`)"
                )
            load_credentials(self.credentials)
        if self.auth == "oauth" and not (
            self.oauth_provider and self.oauth_key and self.oauth_secret
        ):
            raise ValueError("--auth oauth needs --oauth-provider, --oauth-key and --oauth-secret")

    def sessions_folder(self) -> Path:
        """Where login sessions are kept: ``sessions`` if set, else beside the credentials file
        (``users.json.sessions/``), shared by every server process using that file."""
        if self.sessions:
            return Path(self.sessions).expanduser()
        return Path(f"{self.credentials}.sessions")

    def is_admin(self, user: str | None) -> bool:
        if not user or self.auth == "none":
            return False
        if user in self.admins:
            return True
        if self.auth == "basic":
            return bool(load_credentials(self.credentials)["users"].get(user, {}).get("admin"))
        return False


def session_user(config: ServeConfig) -> str:
    """The logged-in user of the current session (``local`` without auth)."""
    import panel as pn

    if config.auth == "none":
        return "local"
    user = pn.state.user
    if not user or user == "guest":
        raise PermissionError("not logged in")
    return user


def app_factory(config: ServeConfig):
    """A function building one session's page: the user's own workspace, nobody else's."""

    def make():
        from .store import Workspace
        from .ui.app import create_app

        workspace = Workspace(
            config.workspace, session_user(config), max_upload_bytes=config.max_upload_mb * 2**20
        )
        return create_app(workspace)

    return make


#: Where this server serves Panel's own files (images of the login page), relative to the page.
LOCAL_PANEL_ASSETS = "static/extensions/panel/"


class _LocalAssets:
    """A login or logout page template whose Panel images come from this server instead of
    Panel's CDN (a lab's server may have no route to the internet)."""

    def __init__(self, template):
        self.template = template

    def render(self, **values):
        return self.template.render(**{**values, "PANEL_CDN": LOCAL_PANEL_ASSETS})


def _login_provider(config: ServeConfig):
    import tornado.escape
    from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler, _validate_next_url
    from panel.io.state import state

    from .login import LoginGuard, LoginRefused
    from .sessions import MAX_AGE_S, SessionStore

    credentials = config.credentials
    guard = LoginGuard()

    class HashedPasswordLoginHandler(BasicLoginHandler):
        """Panel's login form, checked against hashed passwords off the event loop, with the
        limits of :mod:`batteryviz.login`, and only when posted from this server's own pages."""

        def _fail(self, message: str) -> None:
            uri = self.request.uri.split("?", 1)[0]
            self.redirect(f"{uri}?error={tornado.escape.url_escape(message)}")

        async def post(self):
            if not same_origin(self.request):
                self.set_status(403)
                self.finish("login refused: the form was not sent from this server's login page")
                return
            username = self.get_argument("username", "")[:200]
            password = self.get_argument("password", "")[:1000]
            address = self.request.remote_ip or ""
            try:
                users = load_credentials(credentials)["users"]
            except (OSError, ValueError):
                users = {}
            entry = users.get(username)
            stored = entry["password"] if entry else None
            try:
                guard.check_allowed(username, address, key=stored or "")
                ok = await guard.verify(password, stored)
            except LoginRefused as exc:
                self._fail(str(exc))
                return
            guard.record(username, address, ok, key=stored or "")
            if not ok:
                self._fail("Invalid username or password!")
                return
            self.set_current_user(username)
            self.set_secure_cookie(
                SESSION_COOKIE,
                sessions.create(username, stored),
                httponly=True,
                samesite="Lax",
                expires_days=MAX_AGE_S / 86400,
            )
            self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)))

    def stored_hash_of(user: str) -> str | None:
        try:
            entry = load_credentials(credentials)["users"].get(user)
        except (OSError, ValueError):
            return None
        return entry["password"] if entry else None

    sessions = SessionStore(config.sessions_folder())
    sessions.purge(stored_hash_of)

    class HashedPasswordAuthProvider(BasicAuthProvider):
        """Panel's basic auth with hashed passwords and server-side sessions
        (:mod:`batteryviz.sessions`): a request is logged in only while its session is valid,
        whatever the ``user`` cookie says."""

        @property
        def get_user(self):
            def get_user(request_handler):
                token = request_handler.get_secure_cookie(
                    SESSION_COOKIE, max_age_days=MAX_AGE_S / 86400
                )
                user = sessions.user_of(token.decode() if token else None, stored_hash_of)
                if user is None:
                    return None
                cookie = request_handler.get_secure_cookie("user", max_age_days=MAX_AGE_S / 86400)
                return user if cookie and cookie.decode("utf-8") == user else None

            return get_user

        @property
        def login_handler(self):
            HashedPasswordLoginHandler._login_endpoint = self._login_endpoint
            HashedPasswordLoginHandler._login_template = _LocalAssets(self._login_template)
            return HashedPasswordLoginHandler

        @property
        def logout_handler(self):
            class LocalLogoutHandler(LogoutHandler):
                _logout_template = _LocalAssets(
                    self._logout_template or LogoutHandler._logout_template
                )
                _login_endpoint = self._login_endpoint

                def get(self):
                    if not same_origin(self.request, typed_in=True):
                        # an <img src=/logout> on another site cannot end a user's session
                        self.set_status(403)
                        self.finish("logout refused: use the Logout button of the batteryviz page")
                        return None
                    token = self.get_secure_cookie(SESSION_COOKIE, max_age_days=MAX_AGE_S / 86400)
                    sessions.revoke(token.decode() if token else None)  # ended on the server
                    self.clear_cookie(SESSION_COOKIE)
                    return super().get()

            return LocalLogoutHandler

    return HashedPasswordAuthProvider()


def exposure_warning(auth: str, address: str | None) -> str | None:
    """The warning ``batteryviz serve`` prints when it serves without login on an address other
    machines can reach (``None`` when login is on or the address is the loopback)."""
    import ipaddress

    if auth != "none":
        return None
    host = (address or "").strip("[]")
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: other machines may resolve it
    return (
        f"WARNING: serving WITHOUT LOGIN on {address or 'every address'}: anyone who can reach "
        f"this machine "
        "can read, upload and delete every cell. Use --auth basic (batteryviz user add NAME) or "
        "--address "
        "127.0.0.1 behind a proxy that logs users in"
    )


def same_origin(request, typed_in: bool = False) -> bool:
    """Whether a request was sent by this server's own pages (login and logout CSRF are
    refused otherwise).

    Browsers name the sending page in ``Origin`` or ``Referer`` and say in ``Sec-Fetch-Site``
    whether it is another site; with ``typed_in`` a request the user made directly (an address
    typed or bookmarked: ``Sec-Fetch-Site: none``, no referrer) also counts. Scripts and
    command-line clients send none of these headers and are let through (they hold no victim's
    cookies)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site == "same-origin" or (typed_in and fetch_site == "none")
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return source is None
    host = request.headers.get("X-Forwarded-Host") or request.host
    return urllib.parse.urlsplit(source).netloc == host


def check_origin_pattern(pattern: str, where: str = "--allow-websocket-origin") -> None:
    """Refuse a websocket origin pattern that admits hosts nobody named.

    Bokeh matches patterns label by label with ``*`` as a wildcard, so ``*``, ``*.*``, ``*.org``
    or ``*:*`` let any web page on such hosts drive the server with a visitor's login. A wildcard
    is accepted only as the first label of a host of at least two named labels
    (``*.lab.example.org``), and as the port."""
    host = pattern.strip().rsplit(":", 1)[0] if pattern.count(":") == 1 else pattern.strip()
    labels = host.split(".")
    named = [x for x in labels if x and "*" not in x]
    if "*" in host and (any("*" in x for x in labels[1:]) or labels[0] != "*" or len(named) < 2):
        raise ValueError(
            f"{where} {pattern!r} would let web pages on hosts nobody named drive the server; "
            "name the real host (a wildcard only as the first label, as in *.lab.example.org)"
        )


def websocket_origins(address: str | None, port: int, extra: list[str] | None) -> list[str]:
    """Allowed websocket origins: the ones given, else the server's own host:port; never a
    pattern :func:`check_origin_pattern` refuses, here or in ``BOKEH_ALLOW_WS_ORIGIN`` (which
    replaces them in Bokeh)."""
    origins = list(extra or [])
    for o in origins:
        check_origin_pattern(o)
    for o in filter(None, os.environ.get("BOKEH_ALLOW_WS_ORIGIN", "").split(",")):
        check_origin_pattern(o, "BOKEH_ALLOW_WS_ORIGIN")
    if not origins:
        host = address if address not in (None, "", "0.0.0.0", "::") else "localhost"
        origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    return origins


def warm_up() -> None:
    """Import what a session uses before the first user arrives (the first page would otherwise
    take seconds), then move every object alive now into the garbage collector's permanent
    generation: Panel runs a full ``gc.collect()`` on the event loop after sessions close, and
    it then walks only what sessions created, not the whole of numpy, xarray, HoloViews and
    Bokeh."""
    import gc
    from importlib import import_module

    for module in (
        "batteryviz.ui.app",
        "batteryviz.ui.views",
        "batteryviz.viz.plots",
        "batteryviz.export",
        "batteryviz.analysis.registry",
        "holoviews",
        "holoviews.plotting.bokeh",
    ):
        import_module(module)
    from .analysis.registry import ANALYSES

    list(ANALYSES.values())  # imports every registered analysis
    gc.collect()
    gc.freeze()


#: The Content-Security-Policy of every response. Bokeh and Panel pages carry their documents in
#: inline scripts and build some callbacks with ``new Function``, so scripts need
#: ``'unsafe-inline' 'unsafe-eval'``; the policy still keeps what an injected script could do
#: inside the server's own origin: no request, image, font, frame or form to another site (a link
#: that sent a victim's cell list elsewhere now cannot), no plug-ins, no framing of the page.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # blob: scripts are made by the page's own scripts (Panel compiles ES modules into blob URLs
        # and imports them); without it the browser logs a violation on every page
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

#: Headers on every response of ``batteryviz serve``.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # older browsers' frame-ancestors
    "X-Content-Type-Options": "nosniff",  # a download is never run as a script or page
    "Referrer-Policy": "same-origin",  # a cell id in the URL is not sent to other sites
}


def _security_headers_transform():
    """A Tornado output transform adding :data:`SECURITY_HEADERS` to every response (pages,
    login, static files, errors), given to the server's Tornado application as its
    ``transforms``. Tornado adds gzip the same way; batteryviz serves uncompressed (the proxy
    compresses), so no default transform is replaced."""
    from tornado.web import OutputTransform

    class SecurityHeaders(OutputTransform):
        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
            return status_code, headers, chunk

    return SecurityHeaders


def _authorize_every_route() -> None:
    """Make Panel run the server's authorization (``pn.config.authorize_callback``) on the
    websocket and ``autoload.js`` routes of every app too, not only on the page's GET.

    Panel 1.9.4 checks it in the page handler only: a logged-in user who is not an admin could
    open ``/admin/ws`` with a session token of their own making (or fetch
    ``/admin/autoload.js``) and read the whole admin document with every session's log. The
    handler classes of those routes in ``panel.io.server.per_app_patterns`` (the list Bokeh's
    server is built from) are replaced by subclasses that refuse with 403 whom the callback
    refuses. Private Panel structure, checked against Panel 1.9.4; a Panel without the list
    fails loudly here rather than serving unchecked routes."""
    _wrap_panel_routes(
        (r"/ws", r"/autoload.js"),
        "_batteryviz_authorizes",
        lambda handler, route: _authorizing(handler, route.lstrip("/")),
        "authorize its websockets",
    )


def _wrap_panel_routes(routes: tuple[str, ...], marker: str, wrap, purpose: str) -> None:
    """Replace the handler of each of ``routes`` in Panel's ``per_app_patterns`` (the list
    Bokeh's server is built from) by ``wrap(handler, route)``, a subclass carrying the class
    attribute ``marker`` (so a second call wraps nothing twice). Private Panel structure, checked
    against Panel 1.9.4: if a route is missing the server refuses to start rather than serve it
    unguarded."""
    from panel.io import server as pserver

    patterns = pserver.per_app_patterns
    found = set()
    for k, (route, handler) in enumerate(patterns):
        if route in routes:
            found.add(route)
            if not getattr(handler, marker, False):
                patterns[k] = (route, wrap(handler, route))
    if found != set(routes):
        raise RuntimeError(
            f"this Panel's routes changed: batteryviz cannot {purpose}; "
            "use the Panel version pinned in pyproject.toml"
        )


def _limit_page_builds() -> None:
    """Make the page route of every app refuse, with 429 and ``Retry-After``, a user (or
    without login an address) who asks for pages faster than
    :func:`batteryviz.ratelimit.page_build_limiter` allows, before any document is built.

    Replaces the page handler in Panel's ``per_app_patterns`` like
    :func:`_authorize_every_route`; each server keeps its own limiter on its Tornado
    application."""
    _wrap_panel_routes(
        (r"/?",),
        "_batteryviz_limits",
        lambda handler, _route: _limiting(handler),
        "limit page builds",
    )


def _limiting(handler):
    from .ratelimit import page_build_limiter

    class Limiting(handler):
        _batteryviz_limits = True

        async def prepare(self):
            await super().prepare()
            if self._finished:
                return
            app = self.application
            limiter = getattr(app, "_batteryviz_page_limiter", None)
            if limiter is None:
                limiter = app._batteryviz_page_limiter = page_build_limiter()
            user = (
                self.current_user if app.auth_provider.get_user is not None else None
            )  # else "default_user"
            user = user.decode() if isinstance(user, bytes) else user
            wait = limiter.take(f"user:{user}" if user else f"address:{self.request.remote_ip}")
            if wait > 0:
                self.set_status(429)
                self.set_header("Retry-After", str(max(1, round(wait))))
                self.set_header("Content-Type", "text/plain; charset=utf-8")
                self.finish(f"Too many page loads: wait {max(1, round(wait))} s and reload.")

    Limiting.__name__ = Limiting.__qualname__ = f"Limiting{handler.__name__}"
    return Limiting


def _authorizing(handler, suffix: str):
    import panel as pn

    class Authorizing(handler):
        _batteryviz_authorizes = True

        async def prepare(self):
            await super().prepare()
            if self._finished:  # refused already (not logged in)
                return
            callback = pn.config.authorize_callback
            if callback is None:
                return
            user = self.current_user
            user = user.decode() if isinstance(user, bytes) else user
            path = (
                self.request.path[: -len(suffix)]
                if self.request.path.endswith(suffix)
                else self.request.path
            )
            try:
                allowed = callback({"user": user}, path.rstrip("/") or "/")
            except Exception:  # noqa: BLE001 - a failing check refuses
                allowed = False
            if allowed is not True:
                self.set_status(403)
                self.finish()

    Authorizing.__name__ = Authorizing.__qualname__ = f"Authorizing{handler.__name__}"
    return Authorizing


def session_signing_key(cookie_secret: str) -> str:
    """The key Bokeh signs session ids with, derived from the cookie secret (so every server
    process of a deployment shares it, and it is never the cookie key itself)."""
    return hashlib.sha256(b"batteryviz bokeh sessions\0" + cookie_secret.encode()).hexdigest()


#: How long a page's session waits for its browser to connect (Bokeh's default is 15 s). A browser
#: that is busy (many tabs, a slow machine, a large page) can take longer to load the scripts and
#: open the websocket; Bokeh then discards the session and builds the page a second time when the
#: websocket arrives (measured with 20 browsers loading at once: every page built twice).
UNUSED_SESSION_LIFETIME_MS = 120_000


def make_server(
    config: ServeConfig,
    port: int = 5006,
    address: str | None = "localhost",
    websocket_origin: list[str] | None = None,
    num_procs: int = 1,
    show: bool = False,
    threaded: bool = False,
    **kwargs,
):
    """Build (and with ``threaded=True`` start, in a thread) the Panel server of the dashboard.

    Returns the server (a ``StoppableThread`` when threaded). ``port=0`` picks a free port (only
    with ``websocket_origin`` given or in threaded test servers that read the port back).
    """
    import panel as pn

    config.check()
    opts = {
        "unused_session_lifetime_milliseconds": UNUSED_SESSION_LIFETIME_MS,
        "transforms": [_security_headers_transform()],
        **kwargs,
    }
    if config.auth == "basic":
        opts["auth_provider"] = _login_provider(config)
    elif config.auth == "oauth":
        opts.update(
            oauth_provider=config.oauth_provider,
            oauth_key=config.oauth_key,
            oauth_secret=config.oauth_secret,
            oauth_redirect_uri=config.oauth_redirect_uri,
            oauth_encryption_key=config.oauth_encryption_key,
        )
    if config.auth != "none":
        opts["cookie_secret"] = config.cookie_secret
        # session ids signed: a browser cannot make up a session token, only use one it was given
        opts.update(sign_sessions=True, secret_key=session_signing_key(config.cookie_secret))
        _authorize_every_route()

        def authorize(user_info, path):
            if path.rstrip("/").endswith("/admin"):
                user = (
                    (user_info or {}).get("user")
                    or (user_info or {}).get("login")
                    or (user_info or {}).get("email")
                )
                return config.is_admin(user)
            return True

        pn.config.authorize_callback = authorize
        opts["admin"] = True
    _limit_page_builds()
    Path(config.workspace).expanduser().mkdir(
        parents=True, exist_ok=True
    ) if "://" not in config.workspace else None
    origins = (
        websocket_origins(address, port, websocket_origin) if port else (websocket_origin or None)
    )
    warm_up()
    from .ui.upload import clean_stale_spools

    clean_stale_spools()  # uploads cut off when an earlier server was killed
    if (
        num_procs == 1
    ):  # several server processes are forked later: each starts its own when first needed
        from .ui.jobs import warm_job_processes

        warm_job_processes()
    return pn.serve(
        {"/": app_factory(config)},
        port=port,
        address=address,
        websocket_origin=origins,
        num_procs=num_procs,
        show=show,
        start=True,
        threaded=threaded,
        title="batteryviz",
        liveness=True,
        websocket_max_message_size=64 * 2**20,
        **opts,
    )
