"""The ledger service: record every write as an intent before the call and complete it after.

Usage (what :class:`cspkit.workflows.ordering.Ordering` does)::

    ledger = Ledger(settings.resolved_database_url(), actor=..., target=Target.emulator(url, instance_id=...))
    entry = ledger.begin(kind="order", key=row_key, customer_id=c, request={...})   # or the existing entry
    ledger.set_cart(entry.id, cart_id=..., cart=cart.to_wire())                       # before checkout
    ledger.submitted(entry.id, request_id=rid)                                        # just before the POST
    ledger.complete(entry.id, after=result.to_wire(), order_ids=[...])                # after the answer

Keys are unique **per target** (:class:`~cspkit.ledger.target.Target`): :meth:`Ledger.begin` and :meth:`Ledger.by_key`
only ever see entries of the ledger's own target, so a rehearsal on an emulator never makes a real order "already
done". Opening a ledger created before targets were recorded migrates it in place (columns added, the unique key
index replaced by one on ``(target_key, key)``; old entries get target ``unknown``).

Everything stored is scrubbed by :func:`scrub` (keys naming tokens/secrets/passwords and ``token=`` URL parameters
are masked), so no token or secret reaches the database.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, or_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text as sa_text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, create_engine, select

from cspkit.errors import APIError, APIStatusError, CspkitError
from cspkit.ledger.models import UNRESOLVED, LedgerEntry, LedgerEvent, utcnow
from cspkit.ledger.target import UNKNOWN_TARGET, Target

__all__ = ["Ledger", "default_actor", "run_id", "scrub"]

_SECRET_KEY = re.compile(r"(token|secret|password|authorization|credential|sas)", re.I)
_SECRET_PARAM = re.compile(r"((?:token|sig|secret|code)=)[^&#\s\"]+", re.I)
_ALLOWED_KEYS = {"tokenType"}  # nothing secret


def scrub(value: Any) -> Any:
    """A copy of ``value`` with secrets masked: dict keys naming a token/secret/password and ``token=``-style URL
    query parameters become ``"***"``."""
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and _SECRET_KEY.search(k) and k not in _ALLOWED_KEYS
                and v not in (None, "") else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _SECRET_PARAM.sub(r"\1***", value)
    return value


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(scrub(value), default=str, sort_keys=True, separators=(",", ":"))


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def default_actor(settings: Any = None) -> str:
    """``user@host`` plus the Partner Center identity of the settings (profile, auth mode, app id) — no secrets."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = "unknown"
    who = f"{user}@{socket.gethostname()}"
    if settings is not None:
        bits = [f"auth={getattr(settings, 'auth', '?')}"]
        if getattr(settings, "profile", None):
            bits.append(f"profile={settings.profile}")
        if getattr(settings, "client_id", None):
            bits.append(f"app={settings.client_id}")
        who += f" ({', '.join(bits)})"
    return who


_RUN = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_id() -> str:
    """This process's claim tag ``host:pid:random``."""
    return _RUN


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """The journal of writes, in any SQLAlchemy database (SQLite file by default, PostgreSQL in production).

    Args:
        url: SQLAlchemy URL (``Settings.resolved_database_url()``; ``sqlite:///path`` or ``postgresql+psycopg://``).
        actor: who is writing (default :func:`default_actor`).
        target: where writes go (:class:`~cspkit.ledger.target.Target`; a plain string becomes a target of kind
            ``other``). Keys are looked up and unique within this target only.
        lease: how long a claim by another live process blocks taking an entry over.
    Raises:
        ConfigurationError-like :class:`~cspkit.errors.CspkitError` when the database cannot be opened.
    """

    def __init__(
        self, url: str, *, actor: str | None = None, target: Target | str | None = None,
        lease: timedelta = timedelta(minutes=15), engine: Engine | None = None,
    ) -> None:
        self.url = url
        self.actor = actor or default_actor()
        self.target = Target.coerce(target)
        self.lease = lease
        self._lock = threading.RLock()
        if engine is None:
            kwargs: dict[str, Any] = {}
            if url.startswith("sqlite"):
                path = url.split("///", 1)[1] if "///" in url else ""
                if path and path != ":memory:":
                    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                kwargs["pool_pre_ping"] = True
            try:
                engine = create_engine(url, **kwargs)
            except Exception as exc:  # noqa: BLE001 - bad URL / missing driver → one clear message
                raise CspkitError(f"cannot open the ledger database: {exc}",
                                  hint="Check CSPKIT_DATABASE_URL.") from exc
            if url.startswith("sqlite"):
                sa_event.listen(engine, "connect", _sqlite_pragmas)
        self.engine = engine
        try:
            _migrate(engine)
            SQLModel.metadata.create_all(engine, tables=[LedgerEntry.__table__, LedgerEvent.__table__])
        except Exception as exc:  # noqa: BLE001
            raise CspkitError(f"cannot open the ledger database: {exc}", hint="Check CSPKIT_DATABASE_URL.") from exc

    # ---------------------------------------------------------------------------------------------------------
    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _event(self, session: Session, entry: LedgerEntry, detail: str | None = None) -> None:
        session.add(LedgerEvent(entry_id=entry.id, at=utcnow(), status=entry.status, detail=detail,
                                request_id=entry.request_id, correlation_id=entry.correlation_id, actor=self.actor))

    def _fix(self, entry: LedgerEntry | None) -> LedgerEntry | None:
        if entry is not None:
            for name in ("created_at", "updated_at", "claimed_at"):
                setattr(entry, name, _aware(getattr(entry, name)))
        return entry

    # -- create ----------------------------------------------------------------------------------------------
    def begin(
        self,
        *,
        kind: str,
        key: str | None = None,
        customer_id: str | None = None,
        subscription_id: str | None = None,
        request: Any = None,
        before: Any = None,
        correlation_id: str | None = None,
        batch_id: str | None = None,
        row_number: int | None = None,
    ) -> tuple[LedgerEntry, bool]:
        """Record the intent of a write (status ``pending``), or return the entry of this target already holding
        ``key`` (entries of other targets never count).

        Returns:
            ``(entry, created)`` — ``created`` is False when an entry with this key existed (its status says what
            happened before: ``done`` means do not write again).
        """
        key = key or f"{kind}:{uuid.uuid4()}"
        now = utcnow()
        entry = LedgerEntry(
            key=key, kind=kind, status="pending", customer_id=customer_id, subscription_id=subscription_id,
            request_json=_dumps(request), before_json=_dumps(before), correlation_id=correlation_id,
            batch_id=batch_id, row_number=row_number, actor=self.actor, **self.target.columns(),
            request_id=str(uuid.uuid4()), created_at=now, updated_at=now, claimed_by=run_id(), claimed_at=now,
        )
        with self._lock, self._session() as session:
            session.add(entry)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                existing = session.exec(select(LedgerEntry).where(
                    LedgerEntry.key == key, LedgerEntry.target_key == self.target.key)).one()
                return self._fix(existing), False  # type: ignore[return-value]
            self._event(session, entry, "intent recorded")
            session.commit()
            return self._fix(entry), True  # type: ignore[return-value]

    # -- transitions -----------------------------------------------------------------------------------------
    def _update(self, entry_id: int, detail: str | None = None, **fields: Any) -> LedgerEntry:
        with self._lock, self._session() as session:
            entry = session.get(LedgerEntry, entry_id)
            if entry is None:
                raise CspkitError(f"ledger entry {entry_id} does not exist")
            for name, value in fields.items():
                setattr(entry, name, value)
            entry.updated_at = utcnow()
            session.add(entry)
            session.flush()
            if "status" in fields or detail:
                self._event(session, entry, detail)
            session.commit()
            return self._fix(entry)  # type: ignore[return-value]

    def claim(self, entry_id: int) -> bool:
        """Take an unresolved entry for this process. False when another live process holds a fresh claim."""
        with self._lock, self._session() as session:
            entry = session.get(LedgerEntry, entry_id)
            if entry is None:
                return False
            holder = entry.claimed_by
            if holder and holder != run_id():
                host, _, rest = holder.partition(":")
                pid = rest.split(":", 1)[0]
                claimed_at = _aware(entry.claimed_at)
                fresh = claimed_at is not None and utcnow() - claimed_at < self.lease
                alive = host != socket.gethostname() or (pid.isdigit() and _pid_alive(int(pid)))
                if fresh and alive:
                    return False
            entry.claimed_by, entry.claimed_at = run_id(), utcnow()
            session.add(entry)
            session.commit()
            return True

    def set_cart(self, entry_id: int, *, cart_id: str, cart: Any = None) -> LedgerEntry:
        """Store the cart id (and cart) **before** checkout: from now on the entry is resolved by this cart only."""
        return self._update(entry_id, f"cart {cart_id} created", cart_id=cart_id, **(
            {"before_json": _dumps(cart)} if cart is not None else {}))

    def clear_cart(self, entry_id: int, reason: str) -> LedgerEntry:
        """Forget a cart that can never be ordered (expired, lines invalid) so a retry builds a new one."""
        return self._update(entry_id, reason, cart_id=None, status="pending")

    def submitted(self, entry_id: int, *, request_id: str, before: Any = None, correlation_id: str | None = None,
                  detail: str | None = None) -> LedgerEntry:
        """The write is about to be sent with ``request_id``; a crash from here on leaves ``submitted``."""
        fields: dict[str, Any] = {"status": "submitted", "request_id": request_id}
        if before is not None:
            fields["before_json"] = _dumps(before)
        if correlation_id:
            fields["correlation_id"] = correlation_id
        with self._lock, self._session() as session:
            entry = session.get(LedgerEntry, entry_id)
            attempts = (entry.attempts if entry else 0) + 1
        return self._update(entry_id, detail or f"sent (attempt {attempts})", attempts=attempts, **fields)

    def complete(self, entry_id: int, *, after: Any, order_ids: Sequence[str] | None = None,
                 subscription_id: str | None = None, detail: str | None = None) -> LedgerEntry:
        """The write succeeded: store the after-state (and order ids)."""
        fields: dict[str, Any] = {"status": "done", "after_json": _dumps(after), "error": None, "error_code": None,
                                  "claimed_by": None}
        if order_ids is not None:
            fields["order_ids_json"] = json.dumps(list(order_ids))
        if subscription_id:
            fields["subscription_id"] = subscription_id
        return self._update(entry_id, detail or "completed", **fields)

    def fail(self, entry_id: int, error: BaseException | str, *, status: str = "failed",
             after: Any = None) -> LedgerEntry:
        """Partner Center refused (``failed``), a guard refused (``refused``), or the outcome is ``unknown``."""
        code = getattr(error, "code", None) or getattr(error, "reason", None)
        fields: dict[str, Any] = {"status": status, "error": scrub(str(error))[:4000],
                                  "error_code": str(code) if code is not None else None}
        if status != "unknown":
            fields["claimed_by"] = None
        if after is not None:
            fields["after_json"] = _dumps(after)
        if isinstance(error, APIError) and error.request_id:
            fields["correlation_id"] = error.correlation_id
        return self._update(entry_id, f"{status}: {scrub(str(error))[:500]}", **fields)

    def note(self, entry_id: int, detail: str) -> LedgerEntry:
        return self._update(entry_id, detail)

    # -- reading ---------------------------------------------------------------------------------------------
    def get(self, entry_id: int) -> LedgerEntry:
        """One entry. Raises :class:`~cspkit.errors.CspkitError` (exit code 2) when it does not exist."""
        with self._session() as session:
            entry = session.get(LedgerEntry, entry_id)
        if entry is None:
            error = CspkitError(f"ledger entry {entry_id} does not exist", hint="List them with `cspkit ledger list`.")
            error.exit_code = 2
            raise error
        return self._fix(entry)  # type: ignore[return-value]

    def by_key(self, key: str) -> LedgerEntry | None:
        """The entry of this ledger's target holding ``key``, or None."""
        with self._session() as session:
            return self._fix(session.exec(select(LedgerEntry).where(
                LedgerEntry.key == key, LedgerEntry.target_key == self.target.key)).first())

    def is_current(self, entry: LedgerEntry) -> bool:
        """True when ``entry`` was written to this ledger's target."""
        return entry.target_key == self.target.key

    def list(
        self, *, status: str | Iterable[str] | None = None, kind: str | None = None, customer_id: str | None = None,
        batch_id: str | None = None, since: datetime | None = None, limit: int | None = None,
        target: str | None = "all",
    ) -> list[LedgerEntry]:
        """Entries, newest first, filtered.

        Args:
            target: ``"current"`` (this ledger's target only), ``"all"`` (default), or a text matched
                case-insensitively against the target's label, kind, endpoint, tenant and instance
                (``"unknown"`` finds the entries migrated from before targets were recorded).
        """
        query = select(LedgerEntry)
        if target == "current":
            query = query.where(LedgerEntry.target_key == self.target.key)
        elif target and target != "all":
            pattern = f"%{target.lower()}%"
            columns = (LedgerEntry.target, LedgerEntry.target_kind, LedgerEntry.target_endpoint,
                       LedgerEntry.target_tenant, LedgerEntry.target_instance, LedgerEntry.target_key)
            query = query.where(or_(*(func.lower(c).like(pattern) for c in columns)))  # type: ignore[arg-type]
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(LedgerEntry.status.in_(statuses))  # type: ignore[attr-defined]
        if kind:
            query = query.where(LedgerEntry.kind == kind)
        if customer_id:
            query = query.where(LedgerEntry.customer_id == customer_id)
        if batch_id:
            query = query.where(LedgerEntry.batch_id == batch_id)
        if since:
            query = query.where(LedgerEntry.created_at >= since)
        query = query.order_by(LedgerEntry.id.desc())  # type: ignore[union-attr]
        if limit:
            query = query.limit(limit)
        with self._session() as session:
            return [self._fix(e) for e in session.exec(query).all()]  # type: ignore[misc]

    def unresolved(self) -> list[LedgerEntry]:
        """Entries of this ledger's target whose outcome is not recorded (``pending``, ``submitted``, ``unknown``),
        oldest first."""
        return list(reversed(self.list(status=UNRESOLVED, target="current")))

    def events(self, *, entry_id: int | None = None, since: datetime | None = None,
               limit: int | None = None) -> list[LedgerEvent]:
        """The audit trail, oldest first."""
        query = select(LedgerEvent)
        if entry_id is not None:
            query = query.where(LedgerEvent.entry_id == entry_id)
        if since:
            query = query.where(LedgerEvent.at >= since)
        query = query.order_by(LedgerEvent.id)  # type: ignore[arg-type]
        if limit:
            query = query.limit(limit)
        with self._session() as session:
            events = list(session.exec(query).all())
        for e in events:
            e.at = _aware(e.at)  # type: ignore[assignment]
        return events


_TARGET_COLUMNS = ("target_kind", "target_endpoint", "target_tenant", "target_instance", "target_key")


def _migrate(engine: Engine) -> None:
    """Bring a ledger created before targets were recorded up to date (SQLite and PostgreSQL): add the target
    columns, mark the old entries target ``unknown`` (never matched), and replace the unique index on ``key`` by the
    unique index on ``(target_key, key)``. A no-op on a new or current database."""
    inspector = sa_inspect(engine)
    if not inspector.has_table(LedgerEntry.__tablename__):
        return
    table = LedgerEntry.__table__
    present = {c["name"] for c in inspector.get_columns(table.name)}
    indexes = inspector.get_indexes(table.name)
    uniques = inspector.get_unique_constraints(table.name)
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as conn:
        for name in _TARGET_COLUMNS:
            if name not in present:
                column = table.c[name]
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(sa_text(f"ALTER TABLE {table.name} ADD COLUMN {preparer.quote(name)} {kind}"))
        if "target_key" not in present:
            conn.execute(sa_text(f"UPDATE {table.name} SET target_key = :unknown, target_kind = :unknown "
                                 "WHERE target_key IS NULL"), {"unknown": UNKNOWN_TARGET})
        for index in indexes:  # the old ``key`` index was unique: keys are unique per target now
            if index["column_names"] == ["key"] and index.get("unique"):
                conn.execute(sa_text(f"DROP INDEX {preparer.quote(index['name'])}"))
        for constraint in uniques:
            if constraint["column_names"] == ["key"] and constraint.get("name"):
                conn.execute(sa_text(f"ALTER TABLE {table.name} DROP CONSTRAINT "
                                     f"{preparer.quote(constraint['name'])}"))
    names = {i["name"] for i in sa_inspect(engine).get_indexes(table.name)}
    with engine.begin() as conn:
        for index in table.indexes:
            if index.name not in names:
                index.create(conn)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def entry_json(entry: LedgerEntry, field: str) -> Any:
    """Parse one of the entry's JSON text fields (``request_json``, ``before_json``, ``after_json``,
    ``order_ids_json``)."""
    raw = getattr(entry, field)
    return json.loads(raw) if raw else None


def error_code(error: BaseException) -> str | None:
    return error.code if isinstance(error, APIStatusError) else None
