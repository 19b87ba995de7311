"""Number fields whose range the page checks, not the browser. Given min_value and max_value, Streamlit turns a field
holding a number past them red and keeps its last value without a word: the Train form's Start, with 0 epochs typed,
did nothing, and the Warm-up page's button trained with the β typed before. Here a field takes any number, its range
is in its help, and what starts work refuses a number out of range with a line that names the field."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Field:
    """A number field's label and range (low and high included; ints for a whole-number field)."""
    label: str
    low: float
    high: float

    def __call__(self, column=st, *, key: str | None = None, value=None, help: str | None = None, **options):
        """The field drawn in column (its value from the session state under key, or value); returns its number."""
        told = f"from {number_text(self.low)} to {number_text(self.high)}"
        given = {} if value is None else {"value": value}
        if isinstance(self.low, int):  # a whole-number field (with no range, no value or step, Streamlit makes a
            options.setdefault("step", 1)  # field of floats: a reload showed 400 epochs as "400.00")
        else:
            options.setdefault("format", "%g")  # 30 warm-up epochs as 30, not 30.00 (0.5 nats as 0.5)
        return column.number_input(self.label, key=key, help=f"{help}; {told}" if help else told, **given, **options)

    def refusal(self, value) -> str | None:
        """A line saying value is out of range, or None."""
        if self.low <= value <= self.high:
            return None
        return f"{self.label} takes {number_text(self.low)} to {number_text(self.high)}, not {number_text(value)}"

    def kept(self, value):
        """value brought into the range."""
        return min(max(value, self.low), self.high)


def refused(fields: Mapping[Field, float]) -> str | None:
    """The lines of the fields whose values are out of range, joined as one message, or None when all are in."""
    lines = [line for field, value in fields.items() if (line := field.refusal(value))]
    return ("; ".join(lines) + ".") if lines else None


def number_text(value) -> str:
    """A field's number as the field shows it: whole numbers with thousands separated, others short."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
