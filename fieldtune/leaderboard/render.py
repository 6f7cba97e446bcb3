"""Render ranked boards: an aligned terminal table, and CSV, Markdown, PNG and one self-contained HTML file.

All formats share one column list (`_columns`), so a column added there shows up everywhere (the PNG draws
every row tied at #1 as a leader). Files are written atomically: a reader never sees half a file.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from fieldtune.leaderboard.collect import PRIMARY_METRIC_PREFERENCE
from fieldtune.leaderboard.kinds import kind_of
from fieldtune.leaderboard.rank import Board, Row

MISSING = "-"
BOARD_FILES = ("leaderboard.csv", "leaderboard.md", "leaderboard.png", "leaderboard.html")  # write_outputs


class Column(NamedTuple):
    key: str
    header: str
    value: Callable[[Row], Any]  # raw value (None when missing): CSV cells and HTML sort keys
    text: Callable[[Any], str]  # display text of a non-missing raw value
    numeric: bool


def _params(n: int) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}"
    return str(n)


VS_LEADER = {"leader": "#1", "tied": "tied with #1", "below": "below #1"}


def _confidence_columns(board: Board) -> list[Column]:
    """The primary metric's interval, the test size and the paired test against #1, where any row has them."""
    primary = board.primary_metric
    columns = [
        Column("interval", "95% CI", lambda row: row.entry.intervals.get(primary), lambda v: f"{v[0]:.4f}-{v[1]:.4f}", False),
        Column("cv", "CV mean ± sd", lambda row: row.entry.cv, lambda v: f"{v[0]:.4f} ± {v[1]:.4f} ({v[2]}-fold)", False),
        Column("num_examples", "n", lambda row: row.entry.num_examples, str, True),
        Column("vs_leader", "vs #1", lambda row: row.vs_leader, VS_LEADER.get, False),
    ]  # fmt: skip
    return [c for c in columns if any(c.value(row) is not None for row in board.rows)]


def _columns(board: Board) -> list[Column]:
    metric_cols = [
        Column(name, name, lambda row, n=name: row.entry.metrics.get(n), lambda v: f"{v:.4f}", True)
        for name in board.metric_names
    ]
    # Shown on a board that holds an exported model only: every other board keeps its columns
    runtime = [Column("runtime", "runtime", lambda row: row.entry.runtime or "pytorch", str, False)]
    kind = Column("kind", "kind", lambda row: kind_of(row.entry), str, False)  # baseline, ensemble
    return [
        Column("rank", "rank", lambda row: row.rank, str, True),
        Column("model", "model", lambda row: row.entry.model, str, False),
        Column("source", "source", lambda row: row.entry.source, str, False),
        *metric_cols[:1],
        *_confidence_columns(board),
        *metric_cols[1:],
        *([kind] if any(kind_of(row.entry) for row in board.rows) else []),
        Column("method", "method", lambda row: row.entry.method, str, False),
        *(runtime if any(row.entry.runtime for row in board.rows) else []),
        Column("total_params", "params", lambda row: row.entry.total_params, _params, True),
        Column("trainable_params", "trainable", lambda row: row.entry.trainable_params, _params, True),
        Column(
            "train_samples_per_s",
            "samples/s",
            lambda row: row.entry.train_samples_per_s,
            "{:.1f}".format,
            True,
        ),
    ]


def _legend(board: Board) -> str | None:
    if not any(row.entry.intervals or row.vs_leader for row in board.rows):
        return None
    return (
        f"95% CI: percentile bootstrap of {board.primary_metric} over the n test examples; tied with #1: the"
        " paired-bootstrap difference to #1 on the same test rows is not significant (95%)."
    )


def _cell(column: Column, row: Row) -> str:
    value = column.value(row)
    return MISSING if value is None else column.text(value)


def _board_heading(board: Board) -> str:
    # the other metrics where smaller is better (Hamming loss, MAE): the smallest is not the worst
    also = f"; lower is better also for {', '.join(board.lower_is_better)}" if board.lower_is_better else ""
    return f"{board.title}: ranked by {board.primary_metric} ({board.direction} is better){also}"


def _ranked_by(board: Board, code: Callable[[str], str]) -> str:
    """The sentences under a board's heading in Markdown and HTML."""
    text = f"Ranked by {code(board.primary_metric)} ({board.direction} is better)."
    if board.lower_is_better:
        text += f" Lower is better also for {', '.join(code(n) for n in board.lower_is_better)}."
    return text


def render_terminal(boards: Sequence[Board]) -> str:
    """Render boards as plain aligned text tables, one after another.

    Args:
        boards (`Sequence[Board]`): From `group_and_rank`.

    Returns:
        `str`: For each board a heading naming the primary metric and its direction, then columns rank,
        model, source, primary metric, other metrics, method, params, trainable params, samples/s
        (numbers right-aligned, `-` where unknown), then a note per unranked row.
    """
    if not boards:
        return "No entries to rank."
    blocks = []
    for board in boards:
        columns = _columns(board)
        table = [[c.header for c in columns]] + [[_cell(c, row) for c in columns] for row in board.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]

        def fmt(cells: list[str], widths: list[int] = widths, columns: list[Column] = columns) -> str:
            parts = [
                cell.rjust(w) if col.numeric else cell.ljust(w)
                for cell, w, col in zip(cells, widths, columns, strict=True)
            ]
            return "  ".join(parts).rstrip()

        lines = [_board_heading(board), fmt(table[0]), "  ".join("-" * w for w in widths)]
        lines += [fmt(cells) for cells in table[1:]]
        lines += [f"  note: {row.entry.model}: {row.note}" for row in board.rows if row.note]
        lines += [f"  {legend}"] if (legend := _legend(board)) else []
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temp file in the same folder and `os.replace` (atomic on POSIX/NT)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder: os.replace is only atomic within one filesystem.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared and served
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def render_csv(boards: Sequence[Board]) -> str:
    """One row per entry: board key, primary metric and direction, rank, model facts, every metric."""
    metric_names: list[str] = []
    for board in boards:
        metric_names += [m for m in board.metric_names if m not in metric_names]
    # Familiar metrics first, in the same order as the tables; then the rest A-Z.
    metric_names.sort(
        key=lambda m: (PRIMARY_METRIC_PREFERENCE.index(m) if m in PRIMARY_METRIC_PREFERENCE else 99, m)
    )
    fields = [
        "task", "dataset", "split", "primary_metric", "greater_is_better", "rank", "model", "source",
        "revision", "base_model", "method", "total_params", "trainable_params", "train_samples_per_s",
        "primary_value", "primary_low", "primary_high", "num_examples", "vs_leader", "baseline", "note",
        "runtime", "cv_mean", "cv_sd", "ensemble", *metric_names,
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for board in boards:
        for row in board.rows:
            e = row.entry
            # Metrics first: a metric oddly named like a contract column ("rank") must not overwrite it.
            record = {
                **e.metrics, "task": board.task, "dataset": board.dataset, "split": board.split,
                "primary_metric": board.primary_metric, "greater_is_better": board.greater_is_better,
                "rank": row.rank, "model": e.model, "source": e.source, "revision": e.revision,
                "base_model": e.base_model, "method": e.method, "total_params": e.total_params,
                "trainable_params": e.trainable_params, "train_samples_per_s": e.train_samples_per_s,
                "primary_value": row.score, "note": row.note, "num_examples": e.num_examples,
                "primary_low": (e.intervals.get(board.primary_metric) or [None])[0],
                "primary_high": (e.intervals.get(board.primary_metric) or [None, None])[1],
                "vs_leader": row.vs_leader, "baseline": e.baseline, "runtime": e.runtime,
                "cv_mean": (e.cv or [None])[0], "cv_sd": (e.cv or [None, None])[1], "ensemble": e.ensemble,
            }  # fmt: skip
            writer.writerow({k: ("" if v is None else v) for k, v in record.items() if k in fields})
    return buffer.getvalue()


def render_markdown(boards: Sequence[Board]) -> str:
    """A `##` heading and a GitHub-flavoured table per board."""
    out = ["# Leaderboard", ""]
    for board in boards:
        columns = _columns(board)
        out += [
            f"## {board.title}",
            "",
            _ranked_by(board, lambda name: f"`{name}`"),
            "",
        ]
        out.append("| " + " | ".join(c.header for c in columns) + " |")
        out.append("|" + "|".join("---:" if c.numeric else ":---" for c in columns) + "|")
        for row in board.rows:
            out.append("| " + " | ".join(_cell(c, row).replace("|", r"\|") for c in columns) + " |")
        notes = [f"- `{row.entry.model}`: {row.note}" for row in board.rows if row.note]
        notes += [legend] if (legend := _legend(board)) else []
        out += ["", *notes, ""] if notes else [""]
    return "\n".join(out)


def render_png(boards: Sequence[Board]) -> bytes:
    """A horizontal bar chart per board of the primary metric, best on top; PNG bytes. Chinese run or
    dataset names are drawn with a font that has their glyphs (`fieldtune.rundir.fonts`)."""
    from fieldtune.rundir.fonts import fonts_for

    texts = [_board_heading(b) for b in boards] + [str(r.entry.model) for b in boards for r in b.rows]
    with fonts_for(texts):
        return _draw_png(boards)


def _draw_png(boards: Sequence[Board]) -> bytes:
    # The Figure API with the Agg canvas, not pyplot: no global backend switch, no GUI, thread-safe.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heights = [1.2 + 0.35 * max(1, sum(r.rank is not None for r in b.rows)) for b in boards] or [1.5]
    fig = Figure(figsize=(8, sum(heights)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0]
    if not boards:
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, "No entries to rank", ha="center", va="center")
    for ax, board in zip(axes, boards, strict=False):
        ranked = [row for row in board.rows if row.rank is not None]
        ax.set_title(_board_heading(board), fontsize=9, loc="left")
        if not ranked:
            ax.axis("off")
            ax.text(0.5, 0.5, f"no {board.primary_metric} scores", ha="center", va="center")
            continue
        labels = [f"{row.rank}. {row.entry.model}" for row in ranked]
        values = [row.score for row in ranked]
        colours = ["#2b6cb0" if row.rank == 1 else "#90b4d8" for row in ranked]
        bars = ax.barh(range(len(ranked)), values, color=colours)
        ax.set_yticks(range(len(ranked)), labels, fontsize=8)
        ax.invert_yaxis()  # rank 1 on top
        ax.bar_label(bars, labels=[f"{v:.4f}" for v in values], fontsize=7, padding=2)
        ax.set_xlabel(board.primary_metric, fontsize=8)
        ax.margins(x=0.15)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # a long heading is not cut off
    return buffer.getvalue()


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1a202c}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{padding:.3rem .6rem;border-bottom:1px solid #e2e8f0;white-space:nowrap}
th{cursor:pointer;user-select:none;background:#f7fafc;text-align:left}
th.num,td.num{text-align:right}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
th.primary{background:#ebf4ff}
tr[data-rank="1"] td{font-weight:600}
.notes{color:#718096}
img{max-width:100%}
"""

# Sorts a table's rows by the clicked header: numbers numerically, text case-insensitively; a second
# click on the same header reverses. Missing values always sink; ties keep the original rank order.
_JS = """
(function () {
  "use strict";
  function key(row, index, numeric) {
    var raw = row.cells[index].getAttribute("data-value");
    if (raw === null || raw === "") return null;
    if (!numeric) return raw.toLowerCase();
    var n = parseFloat(raw);
    return isNaN(n) ? null : n;
  }
  function sortBy(table, th) {
    var index = th.cellIndex, numeric = th.getAttribute("data-type") === "number";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, index, numeric), y = key(b, index, numeric);
      if (x === null || y === null) {
        if (x !== y) return x === null ? 1 : -1;
      } else if (x !== y) {
        return (x < y ? -1 : 1) * (ascending ? 1 : -1);
      }
      return a._order - b._order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.leaderboard").forEach(function (table) {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) { row._order = i; });
    table.querySelectorAll("th[data-key]").forEach(function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") sortBy(table, th); });
    });
  });
})();
"""


def render_html(boards: Sequence[Board], png: bytes | None = None) -> str:
    """One self-contained page: inline CSS and JS, the chart as a base64 PNG, a sortable table per board.

    Each table has `id="board-<n>"` (1-based, in board order), each header `data-key`, each body row
    `data-rank` (empty when unranked) and each cell `data-value` (the raw value the sort uses).
    """
    esc = html.escape
    parts = [
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>fieldtune leaderboard</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        "<h1>fieldtune leaderboard</h1>\n<p>Click a column header to sort; click again to reverse.</p>\n",
    ]
    for n, board in enumerate(boards, start=1):
        columns = _columns(board)
        parts.append(f'<section class="board">\n<h2>{esc(board.title)}</h2>\n')
        parts.append(f"<p>{_ranked_by(board, lambda name: f'<code>{esc(name)}</code>')}</p>\n")
        parts.append(
            f'<table id="board-{n}" class="leaderboard" data-task="{esc(board.task)}" '
            f'data-dataset="{esc(board.dataset)}" data-split="{esc(board.split)}" '
            f'data-primary="{esc(board.primary_metric)}" data-direction="{board.direction}">\n<thead><tr>'
        )
        for c in columns:
            classes = " ".join(
                name for name, on in (("num", c.numeric), ("primary", c.key == board.primary_metric)) if on
            )
            sort = ' aria-sort="ascending"' if c.key == "rank" else ""  # rows start in rank order
            if c.key in board.metric_names:  # which way is better, for a reader and for scripts
                better = "higher" if board.metric_greater_is_better(c.key) else "lower"
                sort += f' data-better="{better}" title="{better} is better"'
            parts.append(
                f'<th data-key="{esc(c.key)}" data-type="{"number" if c.numeric else "text"}"'
                f' class="{classes}"{sort}>{esc(c.header)}</th>'
            )
        parts.append("</tr></thead>\n<tbody>\n")
        for row in board.rows:
            parts.append(f'<tr data-rank="{"" if row.rank is None else row.rank}">')
            for c in columns:
                value = c.value(row)
                raw = "" if value is None else repr(value) if isinstance(value, float) else str(value)
                cls = ' class="num"' if c.numeric else ""
                parts.append(f'<td data-value="{esc(raw)}"{cls}>{esc(_cell(c, row))}</td>')
            parts.append("</tr>\n")
        parts.append("</tbody>\n</table>\n")
        notes = [f"<li><code>{esc(r.entry.model)}</code>: {esc(r.note)}</li>" for r in board.rows if r.note]
        notes += [f'<li class="legend">{esc(legend)}</li>'] if (legend := _legend(board)) else []
        if notes:
            parts.append('<ul class="notes">' + "".join(notes) + "</ul>\n")
        parts.append("</section>\n")
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure>\n<img alt="Primary metric per board" src="data:image/png;base64,{data}">\n</figure>\n'
        )
    parts.append(f"<script>{_JS}</script>\n</body>\n</html>\n")
    return "".join(parts)


def write_outputs(boards: Sequence[Board], out_dir: Path) -> dict[str, Path]:
    """Write `leaderboard.{csv,md,png,html}` into `out_dir` (created if needed), each atomically.

    Args:
        boards (`Sequence[Board]`): From `group_and_rank`.
        out_dir (`Path`): Output folder.

    Returns:
        `dict[str, Path]`: `{"csv": ..., "md": ..., "png": ..., "html": ...}`.
    """
    out_dir = Path(out_dir)
    png = render_png(boards)
    contents = {
        "csv": render_csv(boards).encode("utf-8"),
        "md": render_markdown(boards).encode("utf-8"),
        "png": png,
        "html": render_html(boards, png).encode("utf-8"),
    }
    return {fmt: atomic_write(out_dir / f"leaderboard.{fmt}", data) for fmt, data in contents.items()}
