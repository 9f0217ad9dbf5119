"""Insight tab: what the update learned. For a finished NEAT job (and, next to it, a LoRA job),
the per-layer norm of dW and the singular-value spectrum of dW.

Both updates have rank at most r: LoRA's dW = B A by construction, NEAT's because its last layer
maps r features back to the output size (dW^T = act(W0^T A^T) ... B^T). What differs is where
the update points: NEAT's left factor is computed from the frozen weights W0 rather than learned
freely. The charts show how large the update is per layer and how evenly it spreads over its
directions (the effective rank: exp of the entropy of the normalised singular values).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd

from app import backend, caches
from app.access import viewer_of
from app.tabs.line_charts import chart_update, empty_frame, empty_title, integer_axis, legend_update, lines_of
from app.tabs.shared import job_choices, job_picker, picker_jobs

MAX_SINGULAR_VALUES = 64


def module_kind(name: str) -> str:
    """`encoder.layer.3.attention.self.query` -> `query` (what the layer does, not where it is)."""
    import re

    m = re.search(r"\.\d+\.(.+)$", name)
    kind = m.group(1) if m else name
    return kind.split(".")[-1] if kind.split(".")[-1] not in ("dense",) else kind


def norms_frame(rows_by_job: dict[str, list[dict]]) -> pd.DataFrame:
    """Long table for a LinePlot: layer, fro_norm, series ('#3 · query')."""
    records = []
    for label, rows in rows_by_job.items():
        for i, row in enumerate(rows):
            layer = row.get("layer")
            records.append(
                {
                    "layer": float(layer if layer is not None else i),
                    "fro_norm": float(row["fro_norm"]),
                    "series": f"{label} · {module_kind(row['module'])}",
                }
            )
    return pd.DataFrame(records, columns=["layer", "fro_norm", "series"])


def spectrum_frame(rows_by_job: dict[str, list[dict]], normalise: bool = True) -> pd.DataFrame:
    """Mean singular-value spectrum per job (each module's spectrum divided by its largest value)."""
    records = []
    for label, rows in rows_by_job.items():
        spectra = [np.asarray(r["singular_values"], dtype=float) for r in rows if len(r["singular_values"])]
        if not spectra:
            continue
        width = max(len(s) for s in spectra)
        stack = np.full((len(spectra), width), np.nan)
        for i, s in enumerate(spectra):
            s = s / s[0] if normalise and s[0] > 0 else s
            stack[i, : len(s)] = s
        mean = np.nanmean(stack, axis=0)
        nonzero = np.flatnonzero(mean > 1e-6 * (mean[0] if mean[0] > 0 else 1.0))
        mean = mean[: nonzero[-1] + 1] if len(nonzero) else mean[:1]  # drop the exact-zero tail
        records += [
            {"index": float(k + 1), "singular_value": float(v), "job": label} for k, v in enumerate(mean)
        ]
    return pd.DataFrame(records, columns=["index", "singular_value", "job"])


def ranks_table(rows_by_job: dict[str, list[dict]]) -> pd.DataFrame:
    records = []
    for label, rows in rows_by_job.items():
        for row in rows:
            sv = row.get("singular_values") or []
            top = float(sv[0]) if sv else 0.0
            records.append(
                {
                    "job": label,
                    "module": row["module"],
                    "shape": "×".join(str(s) for s in row.get("shape", ())),
                    "‖dW‖_F": round(float(row["fro_norm"]), 5),
                    "σ1": round(top, 5),
                    "effective rank": round(float(row.get("effective_rank", 0.0)), 2),
                    "W0 alignment": round(float(row.get("w0_alignment") or 0.0), 3),
                }
            )
    columns = ["job", "module", "shape", "‖dW‖_F", "σ1", "effective rank", "W0 alignment"]
    return pd.DataFrame(records, columns=columns)


def headline(rows_by_job: dict[str, list[dict]], ranks: dict[str, int]) -> str:
    if not rows_by_job:
        return ""
    parts = []
    for label, rows in rows_by_job.items():
        eff = [float(r.get("effective_rank", 0)) for r in rows]
        norm = [float(r["fro_norm"]) for r in rows]
        align = [float(r.get("w0_alignment") or 0.0) for r in rows]
        r = ranks.get(label)
        parts.append(
            f"- **{label}**: {len(rows)} adapted modules, mean ‖dW‖_F {np.mean(norm):.4g}, "
            f"mean effective rank {np.mean(eff):.1f}"
            + (f" (adapter rank r={r})" if r else "")
            + f", mean W0 alignment {np.mean(align):.3f}"
        )
    return "\n".join(parts) + (
        "\n\nBoth updates have rank at most r. LoRA learns both factors freely (dW = BA); NEAT computes "
        "its update from the frozen weights through a small nonlinear network (dWᵀ = act(W0ᵀAᵀ)Bᵀ), so "
        "what it can change is tied to W0's own structure. W0 alignment is the share of the update lying "
        "in W0's own top-8 singular directions (a random update scores near 0, one that re-weights W0's "
        "dominant directions near 1). A flatter spectrum (higher effective rank) "
        "means the update spreads over more of its r directions; the per-layer norms show where in the "
        "network the model changed most."
    )


@dataclass
class InsightTab:
    refresh: callable  # (neat id, lora id) -> updates of both pickers
    neat_select: gr.Dropdown
    lora_select: gr.Dropdown


NORMS_TITLE = "Per-layer ‖dW‖_F"
SPECTRUM_TITLE = "Singular values of dW (σ_k / σ_1, mean)"


def build() -> InsightTab:
    gr.Markdown(
        "For a finished NEAT job, look at the update dW it learned, layer by layer — next to a "
        "LoRA job's, to see what the nonlinear update adds."
    )
    with gr.Row():
        neat_select = job_picker(
            choices=[], value=None, label="NEAT job (finished)", elem_id="insight-neat", scale=3
        )
        lora_select = job_picker(
            choices=[], value=None, label="LoRA job to compare (optional)", elem_id="insight-lora", scale=3
        )
        analyse = gr.Button("Analyse", variant="primary", elem_id="insight-run", scale=1)
    summary = gr.Markdown("", elem_id="insight-summary")
    with gr.Row():
        norms = gr.LinePlot(
            empty_frame(["layer", "fro_norm", "series"]),
            elem_classes=["line-chart"],
            x="layer",
            y="fro_norm",
            color="series",
            title=empty_title(NORMS_TITLE),
            x_title="layer",
            y_title="Frobenius norm of dW",
            elem_id="insight-norms",
            height=300,
        )
        spectrum = gr.LinePlot(
            empty_frame(["index", "singular_value", "job"]),
            elem_classes=["line-chart"],
            x="index",
            y="singular_value",
            color="job",
            title=empty_title(SPECTRUM_TITLE),
            x_title="k",
            y_title="σ_k / σ_1",
            elem_id="insight-spectrum",
            height=300,
        )
    table = gr.Dataframe(label="Per module", interactive=False, elem_id="insight-table", max_height=300)

    def refresh_choices(current_neat=None, current_lora=None, request: gr.Request = None):
        jobs = picker_jobs(viewer_of(request), status="succeeded", keep=[current_neat, current_lora])
        neat = job_choices(jobs, statuses=("succeeded",), method="neat")
        lora = job_choices(jobs, statuses=("succeeded",), method="lora")
        pick = lambda cur, ch: cur if cur in {v for _, v in ch} else (ch[0][1] if ch else None)  # noqa: E731
        return (
            gr.update(choices=neat, value=pick(current_neat, neat)),
            gr.update(choices=[("(none)", "")] + lora, value=pick(current_lora, lora) or ""),
        )

    def run(neat_id, lora_id, progress=gr.Progress(), viewer=None):
        if not neat_id:
            raise gr.Error("Choose a finished NEAT job first.")
        rows_by_job, ranks = {}, {}
        for job_id in [neat_id, lora_id]:
            if not job_id:
                continue
            try:
                job = backend.get_job(int(job_id), viewer)
            except Exception as exc:  # noqa: BLE001 - deleted, or not this account's
                raise gr.Error(backend.user_message(exc)) from exc
            if not job or not job.get("output_dir"):
                raise gr.Error(f"Job #{job_id} has no output to analyse.")
            progress(0.3, desc=f"Computing the spectrum of job #{job_id}…")
            label = f"#{job_id} {(job.get('spec') or {}).get('method', {}).get('name', '')}"
            try:
                predictor = caches.PREDICTORS.get(job["output_dir"])  # shared with the Playground
                rows_by_job[label] = backend.delta_spectrum(
                    job["output_dir"], max_singular_values=MAX_SINGULAR_VALUES, predictor=predictor
                )
            except Exception as exc:  # noqa: BLE001
                raise gr.Error(f"Could not analyse job #{job_id}: {backend.user_message(exc)}") from exc
            ranks[label] = (job.get("spec") or {}).get("method", {}).get("r")
        # layers and k are whole numbers: as text in numeric order, the axes tick only at them
        norm_frame, layers = integer_axis(norms_frame(rows_by_job), "layer")
        spectrum_rows, ks = integer_axis(spectrum_frame(rows_by_job), "index")
        return (
            headline(rows_by_job, ranks),
            chart_update(norm_frame, "layer", "fro_norm", "series"),
            chart_update(spectrum_rows, "index", "singular_value", "job"),
            ranks_table(rows_by_job),
        ), (
            legend_update(lines_of(norm_frame, "series"), NORMS_TITLE, sort=layers or None),
            legend_update(lines_of(spectrum_rows, "job"), SPECTRUM_TITLE, sort=ks or None),
        )

    def run_stream(neat_id, lora_id, request: gr.Request, progress=gr.Progress()):
        out, (norms_drawing, spectrum_drawing) = run(neat_id, lora_id, progress, viewer_of(request))
        yield out
        # then colours, titles and the axis order: the charts redraw with the new data (line_charts)
        yield gr.skip(), norms_drawing, spectrum_drawing, gr.skip()

    analyse.click(run_stream, [neat_select, lora_select], [summary, norms, spectrum, table])
    return InsightTab(refresh=refresh_choices, neat_select=neat_select, lora_select=lora_select)
