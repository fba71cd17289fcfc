"""Leaderboard tables as text: Markdown written line by line, HTML through pandas' Styler and
a Jinja template (autoescaped, so every name a run carries is shown as text, never markup)."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import pandas as pd

from harness.report.stats import REAL_ROW

# Column order: the headline metrics of each kind of data first, then the rest.
HEADLINE_ORDER = (
    "fid",
    "is",
    "modes_covered",
    "high_quality_fraction",
    "energy_distance",
    "label_agreement",
    "label_agreement_digit",
    "reverse_kl",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
)
LEGEND = (
    "Cells show the mean ± std over seeds, its 95% bootstrap interval of the mean (flagged "
    "'n<3' where fewer than three seeds make it rough) and the rank by the metric's direction "
    "(↑ higher is better, ↓ lower); the best ranked value of each column is in bold. Only "
    "completed runs are averaged and every value is the one logged at the checkpoint's own "
    "step: a metric undefined there (reverse KL with no high-quality sample) is shown as "
    "undefined and lowers its n. Rows short of their seeds are marked incomplete and not "
    f"ranked. The '{REAL_ROW}' row scores the dataset's held-out split with the same metrics "
    "against the same reference (its sample count is given where the split is smaller); on "
    "translation tasks the 'baseline:' rows score trivial translators (the identity map; "
    "ridge regression and the nearest neighbour, fitted on the training pairs) the same way. "
    "The budget is counted in images shown to D: a variant with several D steps per G step "
    "takes proportionally fewer G steps."
)


def fmt(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}g}"


@dataclass
class Section:
    """One table: a dataset at one checkpoint, as cell texts plus what to mark."""

    dataset: str
    checkpoint: str
    header: dict[str, str]  # column → header text (with its direction arrow)
    values: pd.DataFrame  # variant × column: "mean ± std #rank"
    intervals: pd.DataFrame  # variant × column: "[lo, hi]" (or "")
    best: pd.DataFrame  # variant × column: bool
    incomplete: list[str]  # variants whose seeds are short or failed
    references: tuple[str, ...] = ()  # reference rows: real data, translation baselines
    selection: str = ""  # what the best checkpoint was chosen on (the runs' eval.selection)

    @property
    def title(self) -> str:
        if self.checkpoint == "final":
            return f"{self.dataset}: final checkpoint"
        chosen = self.selection or "a score apart from the reported ones"
        return f"{self.dataset}: best checkpoint (selected on {chosen})"


def value_text(row) -> str:
    """``mean ± std #rank`` (real-data rows: the value and, if smaller, its sample count)."""
    if row.get("real", False):
        count = row.get("real_count") or ""
        return fmt(row["mean"]) + (f" (n={count})" if count else "")
    if row["n"] == 0:
        return "undefined"
    text = fmt(row["mean"])
    if not math.isnan(row["std"]):
        text += f" ± {fmt(row['std'], 2)}"
    if row["n"] < row["expected"]:
        text += f" (n={int(row['n'])} of {int(row['expected'])}, not ranked)"
    if not pd.isna(row["rank"]):
        text += f" #{int(row['rank'])}"
    return text


def interval_text(row) -> str:
    if row.get("real", False) or math.isnan(row["ci_low"]):
        return ""
    flag = " n<3" if row["n"] < 3 else ""
    return f"[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]{flag}"


def _order(columns: list[str], bases: dict[str, str]) -> list[str]:
    def position(column: str) -> tuple[int, str]:
        base = bases[column]
        return (HEADLINE_ORDER.index(base) if base in HEADLINE_ORDER else 99, column)

    return sorted(columns, key=position)


def _budget(runs: pd.DataFrame, dataset: str) -> dict[str, tuple[str, str]]:
    """Variant → (G steps, images seen) of its completed runs (means over seeds)."""
    done = runs[(runs["dataset"] == dataset) & (runs["status"] == "completed")]
    out = {}
    for variant, group in done.groupby("variant"):
        g_steps = group.get("metric:g_steps", pd.Series(dtype=float)).mean()
        images = group.get("metric:images_seen", pd.Series(dtype=float)).mean()
        out[variant] = (fmt(g_steps, 6), fmt(images, 6))
    return out


def _selection(runs: pd.DataFrame, dataset: str) -> str:
    """The runs' one ``eval.selection`` protocol in this dataset ("" if none or several)."""
    if runs.empty or "eval.selection" not in runs:
        return ""
    found = set(runs.loc[runs["dataset"] == dataset, "eval.selection"].dropna())
    return str(found.pop()) if len(found) == 1 else ""


def sections(table: pd.DataFrame, runs: pd.DataFrame) -> list[Section]:
    out = []
    for dataset, in_dataset in table.groupby("dataset", sort=True):
        budget = _budget(runs, dataset) if not runs.empty else {}
        for checkpoint in ("final", "best"):
            part = in_dataset[in_dataset["checkpoint"] == checkpoint]
            if part.empty or not (~part["real"].astype(bool)).any():
                continue
            bases = dict(zip(part["column"], part["metric"], strict=False))
            columns = _order(list(dict.fromkeys(part["column"])), bases)
            references = set(part.loc[part["real"].astype(bool), "variant"])
            variants = sorted(references, key=lambda v: (v != REAL_ROW, v))
            variants += sorted(set(part.loc[~part["real"].astype(bool), "variant"]))
            values = pd.DataFrame("–", index=variants, columns=["seeds", "G steps", "images"])
            values = values.reindex(
                columns=["seeds", "G steps", "images", *columns], fill_value="–"
            )
            intervals = pd.DataFrame("", index=variants, columns=values.columns)
            best = pd.DataFrame(False, index=variants, columns=values.columns)
            incomplete = []
            for variant, group in part.groupby("variant"):
                if not group["real"].astype(bool).any():
                    first = group.iloc[0]
                    mark = "" if group["cell_complete"].all() else " ⚠ incomplete"
                    n = int(group["runs"].max())
                    values.loc[variant, "seeds"] = f"{n}/{int(first['expected'])}{mark}"
                    values.loc[variant, ["G steps", "images"]] = budget.get(variant, ("–", "–"))
                    if mark:
                        incomplete.append(variant)
                for _, row in group.iterrows():
                    values.loc[variant, row["column"]] = value_text(row)
                    intervals.loc[variant, row["column"]] = interval_text(row)
                    best.loc[variant, row["column"]] = row["rank"] is not pd.NA and row["rank"] == 1
            header = {"seeds": "seeds", "G steps": "G steps", "images": "images seen"}
            for column in columns:
                higher = bool(part[part["column"] == column]["higher_is_better"].iloc[0])
                header[column] = column + (" ↑" if higher else " ↓")
            out.append(
                Section(
                    dataset,
                    checkpoint,
                    header,
                    values,
                    intervals,
                    best,
                    incomplete,
                    tuple(sorted(references)),
                    _selection(runs, dataset),
                )
            )
    return out


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(
    title: str,
    provenance: dict,
    notes: list,
    parts: list[Section],
    figures,
    figure_dir,
    plain: list[tuple[str, pd.DataFrame]] = (),
):
    lines = [f"# {title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in provenance.items()]
    lines += [f"- **note**: {note}" for note in notes]
    lines += ["", LEGEND, ""]
    for heading, frame in plain:  # e.g. published beside reproduced
        lines += [f"## {heading}", ""]
        lines.append("| " + " | ".join(_md_cell(c) for c in frame.columns) + " |")
        lines.append("|" + "---|" * len(frame.columns))
        for _, row in frame.iterrows():
            lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
        lines.append("")
    for section in parts:
        lines += [f"## {section.title}", ""]
        columns = list(section.values.columns)
        lines.append("| variant | " + " | ".join(section.header[c] for c in columns) + " |")
        lines.append("|---|" + "---|" * len(columns))
        for variant, row in section.values.iterrows():
            cells = [str(variant).replace("|", "\\|")]
            for column in columns:
                text = row[column]
                if section.best.loc[variant, column]:
                    text = f"**{text}**"
                if section.intervals.loc[variant, column]:
                    text += f"<br>{section.intervals.loc[variant, column]}"
                cells.append(text)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        for name, caption, _ in figures:
            lines += [f"![{caption}]({figure_dir}/{figure_file(name)})", "", f"*{caption}*", ""]
    return "\n".join(lines) + "\n"


def figure_file(name: str) -> str:
    """A figure's file name: its name with anything but letters, digits, '.', '_' and '-'
    replaced (labels may hold '/' or spaces), plus a short hash of the name when anything was,
    so two labels never share a file."""
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip(".") or "figure"
    if safe != name:
        safe += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe}.png"


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; white-space: pre-line; }
th { background: #f0f0f0; }
td.best { font-weight: 700; }
td.incomplete { background: #fff4e0; }
tr.real td, td.real { background: #eef4ff; font-style: italic; }
.interval { color: #666; font-size: 11px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; }
dt { font-weight: 600; }
figure { display: inline-block; margin: 1em; }
figcaption { font-size: 12px; color: #555; }
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ css }}</style></head><body>
<h1>{{ title }}</h1>
<dl>{% for key, value in provenance.items() %}<dt>{{ key }}</dt><dd>{{ value }}</dd>{% endfor %}
{% for note in notes %}<dt>note</dt><dd>{{ note }}</dd>{% endfor %}</dl>
<p>{{ legend }}</p>
{% for heading, table in tables %}<h2>{{ heading }}</h2>
{{ table }}
{% endfor %}{% if figures %}<h2>Figures</h2>
{% for name, caption, data in figures %}<figure id="{{ name }}"><img alt="{{ caption }}" src="data:image/png;base64,{{ data }}"><figcaption>{{ caption }}</figcaption></figure>
{% endfor %}{% endif %}</body></html>
"""


def _styled(section: Section, index: int) -> str:
    """One table through pandas' Styler: every text escaped, the interval on its own line,
    best values bold, incomplete and real-data rows shaded."""
    texts = section.values.copy()
    for column in texts.columns:
        texts[column] = [
            value + (f"\n{interval}" if interval else "")
            for value, interval in zip(texts[column], section.intervals[column], strict=True)
        ]
    texts.columns = [section.header[c] for c in section.values.columns]
    texts.index.name = "variant"
    classes = pd.DataFrame("", index=texts.index, columns=texts.columns)
    for row_index, variant in enumerate(section.values.index):
        for col_index, column in enumerate(section.values.columns):
            names = []
            if section.best.loc[variant, column]:
                names.append("best")
            if variant in section.references:
                names.append("real")
            if variant in section.incomplete and column == "seeds":
                names.append("incomplete")
            classes.iloc[row_index, col_index] = " ".join(names)
    styler = (
        texts.style.set_uuid(f"t{index}")
        .set_td_classes(classes)
        .format(escape="html")
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
    )
    return styler.to_html(doctype_html=False, exclude_styles=True)


def html_page(
    title: str,
    provenance: dict,
    notes: list,
    parts: list[Section],
    figures,
    plain: list[tuple[str, pd.DataFrame]] = (),
) -> str:
    from jinja2 import Environment
    from markupsafe import Markup

    environment = Environment(autoescape=True)
    tables = [
        (
            heading,
            Markup(
                frame.style.hide(axis="index")
                .format(escape="html")
                .format_index(escape="html", axis=1)
                .to_html(doctype_html=False, exclude_styles=True)
            ),
        )
        for heading, frame in plain
    ]
    tables += [(s.title, Markup(_styled(s, i))) for i, s in enumerate(parts)]
    shown = [(n, c, base64.b64encode(png).decode("ascii")) for n, c, png in figures]
    return environment.from_string(PAGE).render(
        title=title,
        css=Markup(CSS),
        provenance={k: str(v) for k, v in provenance.items()},
        notes=notes,
        legend=LEGEND,
        tables=tables,
        figures=shown,
    )
