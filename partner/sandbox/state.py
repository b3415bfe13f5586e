"""In-memory state of the sandbox: what is registered, what it issued, and what it received.

Everything lives in one :class:`SandboxState` stored under :data:`STATE_KEY`, so two sandbox apps in one
process (two tests) never share anything. Time comes from ``SandboxConfig.clock`` so tests can move it
(auth-code expiry, the 48 h dedup window, LINE reply-token expiry) without sleeping.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

DEFAULT_APP_ID = "sandbox-app"
DEFAULT_APP_SECRET = "sandbox-secret"  # noqa: S105 - a published sandbox default, not a secret
DEFAULT_ADVERTISER_IDS = ("7000000000000000001", "7000000000000000002")
DEFAULT_PIXEL_ID = "SANDBOX_PIXEL_1"
DEFAULT_MES_ID = "SANDBOX_MES_2"
DEFAULT_EVENTS_TOKEN = "sandbox-events-token"  # noqa: S105 - published sandbox default
DEFAULT_META_TOKEN = "sandbox-meta-token"  # noqa: S105 - published sandbox default
DEFAULT_WHATSAPP_PHONE_NUMBER_ID = "100000000000001"
# Meta's sample template of every new WhatsApp Business account, and one with a placeholder
DEFAULT_WHATSAPP_TEMPLATES = {("hello_world", "en_US"): 0, ("order_update", "en_US"): 1}
DEFAULT_MESSENGER_PAGE_ID = "200000000000001"
DEFAULT_LINE_CHANNEL_TOKEN = "sandbox-line-token"  # noqa: S105 - published sandbox default

FaultTarget = Literal["tiktok", "meta", "line"]
ALL_TARGETS: frozenset[FaultTarget] = frozenset({"tiktok", "meta", "line"})


@dataclass(frozen=True, slots=True)
class SandboxApp:
    """A TikTok developer app; ``redirect_uris`` empty means any http(s) redirect is allowed."""

    app_id: str
    secret: str
    name: str = "Sandbox Messaging Partner"
    redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Advertiser:
    advertiser_id: str
    advertiser_name: str


@dataclass(frozen=True, slots=True)
class EventsToken:
    """A manual Events Manager token: works with ``/event/track/`` for exactly one event set."""

    access_token: str
    event_source_id: str


def _default_apps() -> list[SandboxApp]:
    return [SandboxApp(DEFAULT_APP_ID, DEFAULT_APP_SECRET)]


def _default_advertisers() -> list[Advertiser]:
    return [
        Advertiser(DEFAULT_ADVERTISER_IDS[0], "Sandbox Advertiser One"),
        Advertiser(DEFAULT_ADVERTISER_IDS[1], "Sandbox Advertiser Two"),
    ]


def _default_event_sets() -> dict[str, str]:
    return {DEFAULT_PIXEL_ID: DEFAULT_ADVERTISER_IDS[0], DEFAULT_MES_ID: DEFAULT_ADVERTISER_IDS[1]}


@dataclass(slots=True)
class SandboxConfig:
    """Initial registrations and behaviour switches; ``POST /_sandbox/config`` can add more later."""

    apps: list[SandboxApp] = field(default_factory=_default_apps)
    advertisers: list[Advertiser] = field(default_factory=_default_advertisers)
    # event_source_id -> owning advertiser; OAuth tokens may only report to sets their advertisers own.
    # Event sets that are not registered are accepted from any valid OAuth token.
    event_sets: dict[str, str] = field(default_factory=_default_event_sets)
    events_tokens: list[EventsToken] = field(
        default_factory=lambda: [EventsToken(DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID)]
    )
    meta_tokens: set[str] = field(default_factory=lambda: {DEFAULT_META_TOKEN})
    whatsapp_phone_number_ids: set[str] = field(default_factory=lambda: {DEFAULT_WHATSAPP_PHONE_NUMBER_ID})
    # approved message templates: (name, language code) -> number of body parameters ({{1}}, {{2}}...)
    whatsapp_templates: dict[tuple[str, str], int] = field(default_factory=lambda: dict(DEFAULT_WHATSAPP_TEMPLATES))
    messenger_page_ids: set[str] = field(default_factory=lambda: {DEFAULT_MESSENGER_PAGE_ID})
    line_channel_tokens: set[str] = field(default_factory=lambda: {DEFAULT_LINE_CHANNEL_TOKEN})
    line_reply_tokens: list[str] = field(default_factory=list)
    scope: tuple[int, ...] = (1, 4, 200)
    auto_approve: bool = False
    # D1 says web needs `page`, app needs `app`, crm needs `lead`; switch off to test other rules alone.
    require_source_objects: bool = True
    max_event_age_seconds: float | None = None  # TikTok's limit is unconfirmed; None disables the check
    auth_code_ttl_seconds: float = 3600.0
    dedup_window_seconds: float = 48 * 3600.0
    line_reply_token_ttl_seconds: float = 60.0
    line_retry_key_ttl_seconds: float = 24 * 3600.0
    max_recorded_requests: int = 10_000
    clock: Callable[[], float] = time.time


@dataclass(slots=True)
class AuthCode:
    app_id: str
    advertiser_ids: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass(slots=True)
class AccessToken:
    """An issued OAuth token (``app_id`` set) or a manual events token (``event_source_id`` set)."""

    app_id: str | None
    advertiser_ids: tuple[str, ...] = ()
    scope: tuple[int, ...] = ()
    event_source_id: str | None = None
    revoked: bool = False


@dataclass(slots=True)
class EventRecord:
    """One unique accepted event; later copies inside the window only bump ``duplicates``."""

    event_source_id: str
    event: str
    event_id: str | None
    received_at: float
    test_event_code: str | None
    payload: dict[str, Any]
    duplicates: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "event_source_id": self.event_source_id,
            "event": self.event,
            "event_id": self.event_id,
            "received_at": self.received_at,
            "test_event_code": self.test_event_code,
            "count": 1 + self.duplicates,
            "deduplicated": self.duplicates,
            "payload": self.payload,
        }


@dataclass(slots=True)
class RecordedRequest:
    seq: int
    received_at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    fault: str | None = None
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "received_at": self.received_at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "fault": self.fault,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """What the fault middleware does instead of the handler: sleep, a bare 5xx, or an error code."""

    kind: Literal["timeout", "http", "code"]
    value: int = 0

    @property
    def label(self) -> str:
        return self.kind if self.kind == "timeout" else f"{self.kind}_{self.value}"


@dataclass(slots=True)
class Faults:
    """Per-request fault probabilities; one draw per targeted request keeps a seeded run reproducible."""

    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (50000,)
    http_5xx_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 5.0
    targets: frozenset[FaultTarget] = ALL_TARGETS
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random)

    def draw(self, target: FaultTarget) -> Fault | None:
        if target not in self.targets:
            return None
        roll = self.rng.random()
        if roll < self.timeout_rate:
            return Fault("timeout")
        if roll < self.timeout_rate + self.http_5xx_rate:
            return Fault("http", self.rng.choice((500, 502, 503, 504)))
        if roll < self.timeout_rate + self.http_5xx_rate + self.error_rate:
            return Fault("code", self.rng.choice(self.error_codes))
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "error_codes": list(self.error_codes),
            "http_5xx_rate": self.http_5xx_rate,
            "timeout_rate": self.timeout_rate,
            "timeout_seconds": self.timeout_seconds,
            "targets": sorted(self.targets),
            "seed": self.seed,
        }


@dataclass(slots=True)
class LineRetry:
    request_id: str
    sent_messages: list[dict[str, str]]
    expires_at: float


class ManualClock:
    """A clock for ``SandboxConfig.clock`` that only moves when told to, for expiry and dedup-window tests."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fingerprint(secret: str) -> str:
    """Short stable digest so recorded requests can be correlated without exposing the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def redacted(secret: str) -> str:
    return f"<redacted:{fingerprint(secret)}>"


def new_token() -> str:
    return secrets.token_hex(20)


def new_tiktok_request_id(now: float) -> str:
    """TikTok request ids start with a UTC timestamp; the random tail keeps them unique."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + secrets.token_hex(12).upper()


@dataclass(slots=True)
class SandboxState:
    """All mutable sandbox state. Handlers run on one event loop, so no locking is needed."""

    config: SandboxConfig
    apps: dict[str, SandboxApp] = field(default_factory=dict)
    advertisers: dict[str, Advertiser] = field(default_factory=dict)
    event_sets: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    auth_codes: dict[str, AuthCode] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)
    event_index: dict[tuple[str, str, str], EventRecord] = field(default_factory=dict)
    received_events: int = 0
    requests: deque[RecordedRequest] = field(default_factory=deque)
    request_seq: int = 0
    faults: Faults | None = None
    meta_tokens: set[str] = field(default_factory=set)
    whatsapp_phone_number_ids: set[str] = field(default_factory=set)
    whatsapp_templates: dict[tuple[str, str], int] = field(default_factory=dict)
    messenger_page_ids: set[str] = field(default_factory=set)
    line_channel_tokens: set[str] = field(default_factory=set)
    line_reply_tokens: dict[str, float] = field(default_factory=dict)
    line_retry_keys: dict[str, LineRetry] = field(default_factory=dict)
    sent_messages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: SandboxConfig) -> SandboxState:
        state = cls(config=config, requests=deque(maxlen=config.max_recorded_requests))
        state.apps = {app.app_id: app for app in config.apps}
        state.advertisers = {adv.advertiser_id: adv for adv in config.advertisers}
        state.event_sets = dict(config.event_sets)
        for token in config.events_tokens:
            state.add_events_token(token)
        state.meta_tokens = set(config.meta_tokens)
        state.whatsapp_phone_number_ids = set(config.whatsapp_phone_number_ids)
        state.whatsapp_templates = dict(config.whatsapp_templates)
        state.messenger_page_ids = set(config.messenger_page_ids)
        state.line_channel_tokens = set(config.line_channel_tokens)
        state.add_line_reply_tokens(config.line_reply_tokens)
        return state

    def now(self) -> float:
        return self.config.clock()

    # --- OAuth -------------------------------------------------------------------------------------

    def issue_auth_code(self, app_id: str, advertiser_ids: Iterable[str]) -> str:
        code = new_token()
        expires_at = self.now() + self.config.auth_code_ttl_seconds
        self.auth_codes[code] = AuthCode(app_id, tuple(advertiser_ids), expires_at)
        return code

    def redeem_auth_code(self, app_id: str, code: str) -> AuthCode | None:
        """Single use: the first redemption marks the code used even if a later step fails."""
        grant = self.auth_codes.get(code)
        if grant is None or grant.used or grant.app_id != app_id or grant.expires_at <= self.now():
            return None
        grant.used = True
        return grant

    def issue_access_token(self, app_id: str, advertiser_ids: tuple[str, ...]) -> str:
        token = new_token()
        self.tokens[token] = AccessToken(app_id, advertiser_ids, self.config.scope)
        return token

    def add_events_token(self, token: EventsToken) -> None:
        self.tokens[token.access_token] = AccessToken(None, event_source_id=token.event_source_id)

    def live_token(self, token: str) -> AccessToken | None:
        found = self.tokens.get(token)
        return None if found is None or found.revoked else found

    def revoke_all_tokens(self) -> int:
        live = [token for token in self.tokens.values() if not token.revoked]
        for token in live:
            token.revoked = True
        return len(live)

    def may_report_to(self, token: AccessToken, event_source_id: str) -> bool:
        if token.event_source_id is not None:
            return token.event_source_id == event_source_id
        owner = self.event_sets.get(event_source_id)
        return owner is None or owner in token.advertiser_ids

    # --- Events ------------------------------------------------------------------------------------

    def accept_events(self, event_source_id: str, items: list[dict[str, Any]], test_event_code: str | None) -> None:
        """Record a validated batch; (event_source_id, event, event_id) repeats within the window dedup."""
        now = self.now()
        for item in items:
            self.received_events += 1
            event_id = item.get("event_id")
            key = (event_source_id, str(item["event"]), event_id) if isinstance(event_id, str) else None
            existing = self.event_index.get(key) if key else None
            if existing and now - existing.received_at < self.config.dedup_window_seconds:
                existing.duplicates += 1
                continue
            record = EventRecord(
                event_source_id, str(item["event"]), event_id if key else None, now, test_event_code, item
            )
            self.events.append(record)
            if key:
                self.event_index[key] = record

    def events_summary(self) -> dict[str, Any]:
        deduplicated = sum(record.duplicates for record in self.events)
        return {
            "events": [record.to_json() for record in self.events],
            "totals": {
                "received": self.received_events,
                "unique": len(self.events),
                "deduplicated": deduplicated,
            },
        }

    def clear_events(self) -> None:
        self.events.clear()
        self.event_index.clear()
        self.received_events = 0

    # --- Requests ----------------------------------------------------------------------------------

    def record_request(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
    ) -> RecordedRequest:
        self.request_seq += 1
        entry = RecordedRequest(self.request_seq, self.now(), method, path, query, headers, body)
        self.requests.append(entry)
        return entry

    # --- LINE --------------------------------------------------------------------------------------

    def add_line_reply_tokens(self, tokens: Iterable[str]) -> None:
        expires_at = self.now() + self.config.line_reply_token_ttl_seconds
        for token in tokens:
            self.line_reply_tokens[token] = expires_at

    def consume_line_reply_token(self, token: str) -> bool:
        expires_at = self.line_reply_tokens.pop(token, None)
        return expires_at is not None and expires_at > self.now()

    def accepted_line_retry(self, key: str) -> LineRetry | None:
        found = self.line_retry_keys.get(key)
        return found if found is not None and found.expires_at > self.now() else None

    def remember_line_retry(self, key: str, request_id: str, sent: list[dict[str, str]]) -> None:
        expires_at = self.now() + self.config.line_retry_key_ttl_seconds
        self.line_retry_keys[key] = LineRetry(request_id, sent, expires_at)

    def config_view(self) -> dict[str, Any]:
        """Registered objects with every secret replaced by its fingerprint."""
        return {
            "apps": [
                {
                    "app_id": app.app_id,
                    "secret": redacted(app.secret),
                    "name": app.name,
                    "redirect_uris": list(app.redirect_uris),
                }
                for app in self.apps.values()
            ],
            "advertisers": [
                {"advertiser_id": adv.advertiser_id, "advertiser_name": adv.advertiser_name}
                for adv in self.advertisers.values()
            ],
            "event_sets": [{"event_set_id": k, "advertiser_id": v} for k, v in self.event_sets.items()],
            "events_tokens": [
                {
                    "access_token": redacted(token),
                    "event_source_id": grant.event_source_id,
                    "revoked": grant.revoked,
                }
                for token, grant in self.tokens.items()
                if grant.event_source_id is not None
            ],
            "meta_tokens": sorted(redacted(token) for token in self.meta_tokens),
            "whatsapp_phone_number_ids": sorted(self.whatsapp_phone_number_ids),
            "whatsapp_templates": [
                {"name": name, "language": language, "body_parameters": count}
                for (name, language), count in sorted(self.whatsapp_templates.items())
            ],
            "messenger_page_ids": sorted(self.messenger_page_ids),
            "line_channel_tokens": sorted(redacted(token) for token in self.line_channel_tokens),
            "line_reply_tokens": len(self.line_reply_tokens),
            "auto_approve": self.config.auto_approve,
            "require_source_objects": self.config.require_source_objects,
        }


def redact_mapping(values: Mapping[str, Any], secret_keys: frozenset[str]) -> dict[str, Any]:
    """Copy ``values`` with secret keys (case-insensitive) replaced by fingerprints, recursing into dicts."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if key.lower() in secret_keys and isinstance(value, str):
            result[key] = redacted(value)
        elif isinstance(value, Mapping):
            result[key] = redact_mapping(value, secret_keys)
        else:
            result[key] = value
    return result


STATE_KEY = web.AppKey("partner_sandbox_state", SandboxState)
