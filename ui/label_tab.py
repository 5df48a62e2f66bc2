"""The Label tab: every recording of the index given its best label among names a person types,
words or the concepts taught on the Search tab (`Index.label_recordings`, as `query label` and
`POST /label` answer).

Options as the query API has them: the modality whose windows are labelled (or a sensor and a
skeleton together), a filter over them,
`refine` (label vectors refined by those windows first) and `spread` (the windows' scores spread
over their nearest windows, the taught examples held to their concept: for labelling an archive
from concepts taught with a few examples each) and `balance` (the recordings made to share the
names equally: for activities about equally common among them). The summary says how many recordings each label
took, and how often the recordings' own labels agree where they have them; the table has one row
per recording and body part, with its runner-up, margin and own labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from query import optional
from query.searcher import JOINED, default_target, with_joined
from query.text_aligned import agreement
from ui.errors import UserError, safely
from ui.views import Context

gr = optional("gradio", "ui", "the web page")

LABEL_COLUMNS = ["recording_id", "body_part", "label", "runner_up", "margin", "windows", "given"]
MAX_LABELS = 200  # names in one request; the API takes more, a person types fewer


@dataclass
class LabelView:
    summary: str  # Markdown
    table: pl.DataFrame  # LABEL_COLUMNS


def split_labels(text: str | None) -> list[str]:
    """The comma- or line-separated names of the box, in order, each once."""
    names = [s.strip() for s in (text or "").replace("\n", ",").split(",")]
    return list(dict.fromkeys(s for s in names if s))


def run_label(ctx: Context, text: str | None, modality: str | None, where: str | None, refine: bool,
              spread: bool, balance: bool = False) -> LabelView:
    labels = split_labels(text)
    if len(labels) < 2:
        raise UserError("give at least two names to choose between, separated by commas "
                        "(words, or concepts taught on the Search tab)")
    if len(labels) > MAX_LABELS:
        raise UserError(f"{len(labels)} names; the page labels with at most {MAX_LABELS} at a time")
    taught = {c.casefold() for c in ctx.index.concepts()["name"].to_list()}
    if not modality or (spread and "+" in modality):  # spread follows one modality's nearest windows
        modality = ctx.index.default_label_target(bool(spread))  # the summary below says which
    joined = "+" in modality
    df = ctx.index.label_recordings(labels, modality, (where or "").strip() or None,
                                    refine=bool(refine), spread=bool(spread), balance=bool(balance))
    counts = df["label"].value_counts(sort=True)
    shares = ", ".join(f"{name} {n}" + (" (concept)" if name.casefold() in taught else "")
                       for name, n in counts.iter_rows())
    how = ", ".join(w for w, on in (("by sensor and skeleton together", joined), ("refined", refine),
                                    (f"spread over the nearest {modality} windows", spread), ("balanced", balance))
                    if on)
    summary = f"**{df.height} recordings labelled**{' (' + how + ')' if how else ''}: {shares}."
    unused = [name for name in labels if name not in set(counts["label"].to_list())]
    if unused:
        summary += f"\n\n*No recording took {', '.join(unused)}.*"
    agree = agreement(df, labels)
    if agree is not None:
        summary += (f"\n\nNamed as their own labels say (the `given` column): **{agree['right']} of "
                    f"{agree['recordings']}** recordings whose own labels are among the names (accuracy "
                    f"{agree['accuracy']:.2f}, macro-F1 {agree['macro_f1']:.2f}).")
    return LabelView(summary, df.select(LABEL_COLUMNS).with_columns(pl.col("margin").round(3),
                                                                    pl.col("given").list.join(", ")))


def build(ctx: Context) -> None:
    """The tab's widgets and wiring (called inside the tab's `with` block)."""
    gr.Markdown("Give every recording its best label among names you type: words (\"a person walks\"), or "
                "concepts taught by example on the Search tab, whose names then stand for their examples. "
                "*Spread* lets each window's nearest windows vote, which helps most when the names are "
                "concepts taught from a few examples each. *Balance* makes the recordings share the names "
                "equally: for activities about equally common among them, as in a lab protocol.")
    with gr.Row():
        names = gr.Textbox(label="Names, separated by commas", lines=2, scale=3, elem_id="label-names",
                           placeholder="e.g. my punch, a person walks, a person waves the right hand")
        with gr.Column(scale=1):
            choices = with_joined(ctx.features.targets or ["imu"])
            modality = gr.Dropdown(choices, value=default_target("text", choices), label="Windows of",
                                   elem_id="label-modality",
                                   info="imu+pose: each recording named by its sensor and skeleton together "
                                        "(spread: by imu)" if JOINED in choices else None)
            where = gr.Textbox(label="Filter (SQL over windows)", placeholder="subject = 2", elem_id="label-where")
    with gr.Row():
        refine = gr.Checkbox(False, label="Refine the names by these windows first", elem_id="label-refine")
        spread = gr.Checkbox(False, label="Spread over the nearest windows", elem_id="label-spread")
        balance = gr.Checkbox(False, label="Activities about equally common: balance", elem_id="label-balance")
    go = gr.Button("Label recordings", variant="primary", elem_id="label-button")
    status = gr.Markdown(elem_id="label-status")
    table = gr.Dataframe(headers=LABEL_COLUMNS, interactive=False, elem_id="label-table")

    @safely(2, on_error=[None], hide=[ctx.index.uri])
    def do_label(text, modality, where, refine, spread, balance):
        view = run_label(ctx, text, modality, where, refine, spread, balance)
        return view.summary, view.table

    gr.on([go.click, names.submit], do_label, [names, modality, where, refine, spread, balance], [status, table],
          api_visibility="private")
