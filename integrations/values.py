"""Values on the wire: reading the fields of the JSON both services send.

Both services send JSON whose types drift (ids as strings, numbers as text), so the
records of both read their fields through these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import Field, fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE = re.compile(r"[+-]?\d+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def parse_iso_date(text: str) -> date | None:
    """`YYYY-MM-DD`, or the date an ISO 8601 timestamp is written on; None otherwise.

    Stricter than `date.fromisoformat`, which also takes `20261118` or week dates, and
    than slicing, which would take `2026-11-18junk`.
    """
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if len(text) > 10 and _ISO_DATE.fullmatch(text[:10]) and text[10] in "T ":
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    return None


class Reader:
    """Reads one JSON object's fields strictly, noting each value it cannot read.

    A value of the wrong type is never quietly turned into None or into other text, or a
    record would carry a value its source never had: a value present but unreadable is
    read as absent *and* noted in `problems`, in words that name the field and the value ("Procore's latitude 'north'
    is not a number"), so that the record can fail on its own row with that message.
    """

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.problems: list[str] = []

    def _bad(self, key: str, value: Any, wanted: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:79] + "…"
        self.problems.append(f"{self.source}'s {key} {shown} is not {wanted}")

    def _absent(self, key: str, value: Any, required: bool) -> bool:
        if value is None or value == "":
            if required:
                self.problems.append(f"it has no {key} in {self.source}")
            return True
        return False

    def text(self, key: str) -> str | None:
        """Text as sent; a whole number is taken as its digits (ids often come as numbers).

        Text holding a null character or half of a UTF-16 pair (JSON can carry both) is
        unreadable: PostgreSQL stores neither, and the second is not even valid UTF-8.
        """
        return self._text(key, self.data.get(key))

    def _text(self, key: str, value: Any) -> str | None:
        if type(value) is str and _UNSTORABLE.search(value) is None:
            return value  # nearly every value: read at once
        if isinstance(value, str) and _UNSTORABLE.search(value):
            if "\x00" in value:
                self._bad(key, value, "text without a null character")
            else:
                self._bad(key, value, "valid Unicode text (it holds half of a character pair)")
            return None
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self._bad(key, value, "text")
        return None

    def optional_texts(self, *keys: str) -> dict[str, str | None]:
        """Several optional texts by key (addresses, phones), empty text read as None."""
        return {key: self.text(key) or None for key in keys}

    def fields_of(self, record: type, **keys: str) -> dict[str, Any]:
        """Each field of the dataclass `record`, read by its declared type under its own
        name (or the key `keys` names for it): for records whose fields mirror the wire."""
        return {f.name: self._field(keys.get(f.name, f.name), f) for f in fields(record)}

    def _field(self, key: str, f: Field) -> Any:
        kind = f.type
        if kind == "bool":
            return self.flag(key, f.default)
        if kind in ("int", "int | None"):
            return self.id(key)
        if kind == "str | None":
            return self.text(key) or None
        if kind == "date | None":
            return self.date(key)
        if kind == "float | None":
            return self.number(key)
        if kind == "tuple[int, ...]":
            return self.ids(key) or ()
        if kind == "tuple[str, ...]":
            return self.texts(key)
        return self.text(key) or ""  # text, and the Literal types of text

    def id(self, key: str = "id", *, required: bool = False) -> int | None:
        value = self.data.get(key)
        if type(value) is int:  # as both services nearly always send it: read at once
            return value
        if self._absent(key, value, required):
            return None
        number = whole(value)
        if number is None:
            self._bad(key, value, "an id")
        return number

    def count(self, key: str) -> int | None:
        """A whole number of something (minutes, ...)."""
        value = self.data.get(key)
        if type(value) is int:
            return value
        if value is None or value == "":
            return None
        number = whole(value)
        if number is None:
            self._bad(key, value, "a whole number")
        return number

    def ref(self, key: str) -> int | None:
        """`<key>_id`, or the id of a nested `<key>` object (either may be sent)."""
        flat = self.data.get(f"{key}_id")
        if type(flat) is int:
            return flat
        if flat not in (None, ""):
            return self.id(f"{key}_id")
        value = self.data.get(key)
        if isinstance(value, Mapping):
            value = value.get("id")
        if value is None or value == "":
            return None
        number = whole(value)
        if number is None:
            self._bad(key, self.data.get(key), "an id")
        return number

    def ids(self, key: str) -> tuple[int, ...] | None:
        """A list of ids (or of objects with one); None when the key is absent."""
        values = self.data.get(key)
        if values is None:
            return None
        if not isinstance(values, list | tuple):
            self._bad(key, values, "a list of ids")
            return ()
        out = []
        for item in values:
            number = whole(item.get("id") if isinstance(item, Mapping) else item)
            if number is None:
                self._bad(key, item, "an id")
            else:
                out.append(number)
        return tuple(out)

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of texts (a select field's options); an absent list reads as empty."""
        values = self.data.get(key)
        if values is None or values == "":
            return ()
        if not isinstance(values, list | tuple):
            self._bad(key, values, "a list of texts")
            return ()
        texts = (self._text(key, value) for value in values)
        return tuple(text for text in texts if text is not None)

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        amount = self.decimal(key)
        return None if amount is None else float(amount)

    def decimal(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        amount = None
        if isinstance(value, str) or (
            isinstance(value, int | float) and not isinstance(value, bool)
        ):
            try:
                amount = Decimal(str(value).strip())
            except InvalidOperation:
                amount = None
        if amount is None or not amount.is_finite():
            self._bad(key, value, "a number")
            return None
        return amount

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self._bad(key, value, "true or false")
        return default

    def date(self, key: str, *, required: bool = False) -> date | None:
        value = self.data.get(key)
        if self._absent(key, value, required):
            return None
        parsed = parse_iso_date(value) if isinstance(value, str) else None
        if parsed is None:
            self._bad(key, value, "a date (YYYY-MM-DD)")
        return parsed

    def moment(self, key: str, *, offset: bool = False) -> datetime | None:
        """An ISO 8601 time; without `offset` a time with none is taken as UTC."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except (AttributeError, TypeError, ValueError):
            self._bad(key, value, "an ISO 8601 time")
            return None
        if parsed.tzinfo is None:
            if offset:
                self._bad(key, value, "a time with a UTC offset")
                return None
            parsed = parsed.replace(tzinfo=UTC)
        return parsed


def whole(value: Any) -> int | None:
    """A whole number (an id) from an int or its digits; None for anything else.

    The rule `Reader` reads ids and counts by, for keys that are not fields of an object
    (the ids that key a record's custom field values).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value)
    return None


def iso_utc(moment: datetime) -> str:
    """A datetime as `YYYY-MM-DDTHH:MM:SSZ` (naive taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
