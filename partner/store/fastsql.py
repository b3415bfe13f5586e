"""Run hot-path Core statements on SQLite's own cursor, compiled once.

SQLAlchemy spends about 30-60 µs per execution building its execution context; SQLite itself needs about 5. On
the webhook path that overhead was most of the cost and all of the tail latency. The statements stay defined once,
in SQLAlchemy Core (PostgreSQL runs them as they are); on SQLite each (statement, parameter names) pair is compiled
once to SQL with named parameters and then executed on the raw ``sqlite3`` cursor of the same connection, inside
the same transaction. Values are converted the way SQLAlchemy stores them on SQLite: datetimes as naive UTC text,
JSON as text, booleans as integers; selected datetime columns are parsed back to aware UTC datetimes.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

_DIALECT = sqlite.dialect(paramstyle="named")


class Row:
    """Attribute access to a result row, like SQLAlchemy's ``Row``."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, index: int) -> Any:
        return list(self._values.values())[index]


class Result:
    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise sa.exc.NoResultFound("expected exactly one row") if not self._rows else sa.exc.MultipleResultsFound()
        return self._rows[0][0]


class Executor(Protocol):
    """What the hot path executes on: prebuilt statements with ``params``, or one-off statements without."""

    connection: Connection

    @property
    def dialect(self) -> sa.Dialect: ...

    def execute(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any: ...


class CoreExecutor:
    """PostgreSQL (and anything else): plain SQLAlchemy execution."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def dialect(self) -> sa.Dialect:
        return self.connection.dialect

    def execute(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        return self.connection.execute(statement, dict(params) if params is not None else None)


class _Compiled:
    __slots__ = ("compiled", "datetime_columns", "defaults", "sql")

    def __init__(self, compiled: Any, datetime_columns: frozenset[str], defaults: dict[str, Any]) -> None:
        self.compiled = compiled  # construct_params() supplies the statement's own literal values
        self.sql = str(compiled)
        self.datetime_columns = datetime_columns
        self.defaults = defaults


class SqliteExecutor:
    """SQLite: compiled SQL on the raw cursor; shares the SQLAlchemy connection's transaction."""

    # Hot-path statements are module constants, so their ids are stable keys.
    _cache: ClassVar[dict[tuple[int, frozenset[str]], _Compiled]] = {}

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._raw = connection.connection.driver_connection

    @property
    def dialect(self) -> sa.Dialect:
        return self.connection.dialect

    def execute(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        if params is None:  # a one-off statement with its values inline: SQLAlchemy runs it
            return self.connection.execute(statement)
        compiled = self._compiled(statement, params)
        cursor = self._raw.cursor()  # type: ignore[union-attr]
        try:
            values = compiled.compiled.construct_params({**compiled.defaults, **params})
            cursor.execute(compiled.sql, {key: _to_sqlite(value) for key, value in values.items()})
            rows = cursor.fetchall() if cursor.description else []
            names = [column[0] for column in cursor.description or ()]
            return Result([_row(names, values, compiled.datetime_columns) for values in rows], cursor.rowcount)
        finally:
            cursor.close()

    def _compiled(self, statement: Executable, params: Mapping[str, Any]) -> _Compiled:
        key = (id(statement), frozenset(params))
        found = self._cache.get(key)
        if found is None:
            found = _compile(statement, params)
            self._cache[key] = found
        return found


def executor_for(connection: Connection | Executor) -> Executor:
    if not isinstance(connection, Connection):
        return connection
    # Only the synchronous driver hands out a plain sqlite3 connection; under aiosqlite, Core runs it.
    return SqliteExecutor(connection) if connection.dialect.driver == "pysqlite" else CoreExecutor(connection)


def _compile(statement: Executable, params: Mapping[str, Any]) -> _Compiled:
    """``render_postcompile`` fixes ``IN`` lists at compile time; they are constants in these statements."""
    options = {"render_postcompile": True}
    defaults: dict[str, Any] = {}
    if isinstance(statement, sa.Insert):
        defaults = _scalar_defaults(statement.table, params)  # type: ignore[arg-type]
        compiled: Any = statement.compile(dialect=_DIALECT, column_keys=[*params, *defaults], compile_kwargs=options)
    else:
        compiled = cast(sa.ClauseElement, statement).compile(dialect=_DIALECT, compile_kwargs=options)
    return _Compiled(compiled, _datetime_columns(statement), defaults)


def _scalar_defaults(target: sa.Table, params: Mapping[str, Any]) -> dict[str, Any]:
    """Values for columns the caller left out: scalar defaults only; a callable default must be given."""
    defaults: dict[str, Any] = {}
    for column in target.columns:
        if column.name in params or column.primary_key:
            continue
        if column.default is not None and column.default.is_scalar:
            defaults[column.name] = column.default.arg  # type: ignore[attr-defined]
        elif not column.nullable and column.server_default is None:
            raise ValueError(f"{target.name}.{column.name} has no value and no scalar default")
    return defaults


def _datetime_columns(statement: Any) -> frozenset[str]:
    returning: Sequence[Any] = getattr(statement, "_returning", ()) or ()
    selected: Sequence[Any] = getattr(statement, "selected_columns", ()) or ()
    datetime_types = (sa.DateTime, _utc_type())
    columns = [*returning, *selected]
    return frozenset(column.name for column in columns if isinstance(getattr(column, "type", None), datetime_types))


def _utc_type() -> type:
    from partner.store.models import UTCDateTime

    return UTCDateTime


def _row(names: list[str], values: Sequence[Any], datetime_columns: frozenset[str]) -> Row:
    row = dict(zip(names, values, strict=True))
    for name in datetime_columns.intersection(row):
        if isinstance(row[name], str):
            row[name] = datetime.fromisoformat(row[name]).replace(tzinfo=UTC)
    return Row(row)


def _to_sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value
