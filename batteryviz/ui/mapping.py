"""The column form: a table no reader recognised, read with the columns a user names in the page.

A browser user cannot call ``bv.read(path, format="generic", columns={...})``: when an upload is
a delimited table whose column names batteryviz does not know, the dashboard keeps the file and
shows this form, with the names of the file's column line (:func:`batteryviz.io.generic.
table_columns`) to choose time, voltage and current from, their units and the current's sign.
The choice becomes the same ``read_options`` a Python user would pass, and is kept with the
cell (:attr:`batteryviz.store.CellRecord.read_with`).
"""

from __future__ import annotations

import panel as pn

from ..viz import markup

#: The columns a cell needs: variable, label, units (name → scale to the variable's unit).
REQUIRED_ROLES = (
    ("test_time_second", "Time", {"s": 1.0, "min": 60.0, "h": 3600.0}),
    ("voltage_volt", "Voltage", {"V": 1.0, "mV": 1e-3}),
    ("current_ampere", "Current", {"A": 1.0, "mA": 1e-3, "µA": 1e-6}),
)
#: Columns a user may add: variable and label.
OPTIONAL_ROLES = (("cycle_count", "Cycle number"), ("step_index", "Step number"))
NONE = "(none)"

#: Words that point to a column's role, tried in order (the first column matching is preselected).
GUESSES = {
    "test_time_second": ("time", "zeit", "temps", "tiempo", "sec", "t"),
    "voltage_volt": ("volt", "spannung", "potential", "tension", "ewe", "u", "v", "e"),
    "current_ampere": ("current", "strom", "courant", "corriente", "amp", "i"),
    "cycle_count": ("cycle", "zyklus", "cyc"),
    "step_index": ("step", "schritt", "etape"),
}


def guess(names: list[str], variable: str) -> str | None:
    """The first column whose name starts with or equals a word of :data:`GUESSES`."""
    for word in GUESSES[variable]:
        for name in names:
            low = name.lower().strip()
            if low == word or (len(word) > 2 and low.startswith(word)):
                return name
    return None


class ColumnForm(pn.viewable.Viewer):
    """Selects for time, voltage and current (with units), optional cycle and step numbers, the
    current's sign, and a button; :meth:`read_options` is what the button reads the file with."""

    def __init__(self, filename: str, names: list[str], **params):
        super().__init__(**params)
        self.filename = filename
        self.names = list(dict.fromkeys(names))  # a name twice would be ambiguous anyway
        # labels cut and shown as text (a Select draws option labels as text, not markup)
        options = {markup.shorten(n, 60): n for n in self.names}
        self.selects, self.units = {}, {}
        for variable, label, units in REQUIRED_ROLES:
            self.selects[variable] = pn.widgets.Select(
                label=label,
                options=options,
                value=guess(self.names, variable) or self.names[0],
                sizing_mode="stretch_width",
            )
            self.units[variable] = pn.widgets.Select(
                label="unit", options=list(units), value=next(iter(units)), width=80
            )
        for variable, label in OPTIONAL_ROLES:
            self.selects[variable] = pn.widgets.Select(
                label=label,
                options={NONE: NONE, **options},
                value=guess(self.names, variable) or NONE,
                sizing_mode="stretch_width",
            )
        self.discharge_positive = pn.widgets.Checkbox(
            label="Current is positive on discharge", value=False
        )
        self.button = pn.widgets.Button(label="Read with these columns", color="primary")
        self.message = pn.Column(sizing_mode="stretch_width")
        #: while the dashboard reads the file with these columns (its file is not deleted then)
        self.reading = False

    def read_options(self) -> dict:
        """``{"format": "generic", "columns": {...}, "current_sign": ±1}`` for the chosen
        columns; a ``ValueError`` saying what to change when a column is chosen twice."""
        columns: dict = {}
        for variable, label, units in REQUIRED_ROLES:
            source = self.selects[variable].value
            if source in columns:
                name = markup.shorten(source, 60)
                raise ValueError(
                    f"{label} and another quantity are both the column {name!r}: choose a "
                    "different column for each"
                )
            scale = units[self.units[variable].value]
            columns[source] = variable if scale == 1.0 else (variable, scale)
        for variable, label in OPTIONAL_ROLES:
            source = self.selects[variable].value
            if source == NONE:
                continue
            if source in columns:
                raise ValueError(
                    f"{label}: the column {markup.shorten(source, 60)!r} is already chosen above"
                )
            columns[source] = variable
        return {
            "format": "generic",
            "columns": columns,
            "current_sign": -1 if self.discharge_positive.value else 1,
        }

    def __panel__(self):
        rows = []
        for variable, _, _ in REQUIRED_ROLES:
            rows.append(pn.Row(self.selects[variable], self.units[variable]))
        rows += [self.selects[v] for v, _ in OPTIONAL_ROLES]
        return pn.Card(
            pn.pane.Markdown(
                markup.md(
                    "batteryviz does not know the columns of **{}**. Name them, and it is read "
                    "as a table with these columns:",
                    self.filename,
                )
            ),
            *rows,
            self.discharge_positive,
            self.button,
            self.message,
            title="Name the columns",
            collapsed=False,
            sizing_mode="stretch_width",
            css_classes=["bv-column-form"],
        )
