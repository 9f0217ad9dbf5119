"""Playground tab: try a finished job — classify text or images, or chat with the base model and
the adapted one side by side — and download the adapter or a merged model.

Loaded runs are cached per job in the app process (app.caches.PREDICTORS), so only the first
prediction of a job pays for loading the model.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from app import backend, caches, config
from app.access import no_remote_code_here, viewer_of
from app.tabs.shared import job_choices, job_picker


def _finished_job(job_id, viewer=None) -> dict:
    if not job_id:
        raise gr.Error("Choose a finished job first.")
    try:
        job = backend.get_job(int(job_id), viewer)
    except Exception as exc:  # noqa: BLE001 - deleted, or another account's
        raise gr.Error(backend.user_message(exc)) from exc
    if not job:
        raise gr.Error(f"Job #{job_id} no longer exists.")
    if job.get("status") != "succeeded" or not job.get("output_dir"):
        raise gr.Error(f"Job #{job_id} has not succeeded, so there is no trained model to try.")
    return job


def load_predictor(job_id, viewer=None):
    job = _finished_job(job_id, viewer)
    try:
        return caches.PREDICTORS.get(job["output_dir"]), job
    except Exception as exc:  # noqa: BLE001 - shown to the user as a toast and in the status line
        raise gr.Error(f"Could not load job #{job_id}: {backend.user_message(exc)}") from exc


def describe(predictor, job: dict) -> str:
    task = getattr(predictor, "task", "?")
    labels = getattr(predictor, "labels", None) or []
    spec = job.get("spec") or {}
    method = (spec.get("method") or {}).get("name", "")
    text = f"Loaded **#{job['id']} {job.get('name', '')}** — {task}, method {method}"
    device, precision = getattr(predictor, "device", None), getattr(predictor, "precision", None)
    if device is not None:
        text += f"; on {device}" + (f" in {precision}" if precision else "")
    if getattr(predictor, "note", None):
        text += f" ({predictor.note})"
    if labels:
        shown = ", ".join(str(x) for x in labels[:12]) + (" …" if len(labels) > 12 else "")
        text += f"; labels: {shown}"
    return text


LIMIT_MARK = "⏹ stopped at the token limit"


def job_tag(job: dict) -> str:
    """How every result names its job: "#5 neat-sst"."""
    return f"#{job['id']} {job.get('name', '')}".strip()


def shown_answer(answer) -> str:
    """An answer as the chat shows it: cut at the token limit, it says so."""
    if getattr(answer, "state", None) == "limit":
        return f"{answer.text}\n\n*{LIMIT_MARK} ({answer.tokens} tokens)*"
    return answer.text


def side_by_side(
    predictor, prompt, base_history, adapted_history, max_new_tokens=96, temperature=0.7, top_p=0.9, seed=0
):
    """Yield (base history, adapted history) as both answers grow, token by token, at once.

    Each history is that side's own conversation (messages with role and content): the base
    model answers the follow-up question after its own earlier answers, the adapted one after
    its own. Same prompt, seed and sampling for both.
    """
    settings = dict(
        max_new_tokens=int(max_new_tokens),
        temperature=float(temperature),
        top_p=float(top_p),
        seed=int(seed or 0),
    )
    turn = {"role": "user", "content": prompt}
    base_msgs, adapted_msgs = [*(base_history or []), turn], [*(adapted_history or []), turn]
    for base, adapted in predictor.chat_side_by_side(base_msgs, adapted_msgs, **settings):
        yield (
            base_msgs + [{"role": "assistant", "content": shown_answer(base)}],
            adapted_msgs + [{"role": "assistant", "content": shown_answer(adapted)}],
            base_msgs + [{"role": "assistant", "content": base.text}],
            adapted_msgs + [{"role": "assistant", "content": adapted.text}],
            chat_line(len(base_msgs) // 2 + 1, base, adapted),
        )


def chat_line(turn: int, base, adapted) -> str:
    """Under the chat: which turn, and how much of the conversation each model read."""
    return (
        f"Turn {turn}: the base model read {base.prompt_tokens} prompt tokens, "
        f"the adapted one {adapted.prompt_tokens} (the conversation so far, in the chat template)."
    )


def top_label(scores: dict) -> str:
    if not scores:
        return ""
    if list(scores) == ["value"]:
        return f"{scores['value']:.3g}"
    name = max(scores, key=scores.get)
    return f"{name} {100 * scores[name]:.0f}%"


def result_line(job: dict, adapted: dict, base: dict, head_is_fresh: bool) -> str:
    """E.g. "#5 neat-sst: positive 77% · base model (fresh head, a coin flip): negative 51%"."""
    base_note = "base model (fresh head, a coin flip)" if head_is_fresh else "base model"
    return f"**{job_tag(job)}**: {top_label(adapted)} · {base_note}: {top_label(base)}"


def adapter_off_note(job: dict, task: str | None) -> str:
    """What "adapter off" means for this job, in plain words."""
    method = ((job.get("spec") or {}).get("method") or {}).get("name", "")
    if method == "full":
        text = "“Adapter off” is the original base model, loaded fresh: this job changed all its weights."
    else:
        text = (
            f"“Adapter off” is the same base model with this job's trained {method.upper() or 'adapter'} "
            "weights switched off: what the model did before fine-tuning."
        )
    if task in ("classification", "image-classification"):
        text += (
            " A classifier's head is new for your labels, so without training it is freshly "
            "initialised: the base answer is a coin flip, not a prediction."
        )
    return text


def stage_for_download(path: str | Path, job_id) -> str:
    """Copy a built zip under NEAT_HOME/exports with a name that says which job it is.

    Every signed-in account may fetch files from the exports folder, so each job's zips sit in
    a sub-folder named by a keyed hash of the job id: a URL cannot be guessed for another
    account's job."""
    import hashlib
    import hmac

    src = Path(path)
    key = config.browser_secret().encode()
    folder = config.exports_dir() / hmac.new(key, str(job_id).encode(), hashlib.sha256).hexdigest()[:24]
    folder.mkdir(exist_ok=True)
    dest = folder / f"job{job_id}-{src.name}"
    if not dest.exists() or dest.stat().st_mtime < src.stat().st_mtime:
        shutil.copyfile(src, dest)
    return str(dest)


@dataclass
class PlaygroundTab:
    select: gr.Dropdown
    refresh: callable


PICKER_SIZE = 500
BASE_LABEL = "Base model, adapter off"
FRESH_HEAD = "Base model, adapter off: a freshly initialised head (a coin flip)"


def build() -> PlaygroundTab:
    gr.Markdown(
        "Try a finished job. Text and image classifiers show the label probabilities with the "
        "adapter and without it (the base model); chat models answer side by side, both at once."
    )
    with gr.Row():
        select = job_picker(choices=[], value=None, label="Finished job", elem_id="pg-job", scale=4)
        refresh = gr.Button("Refresh", size="sm", scale=0)
    status = gr.Markdown("", elem_id="pg-status")
    note = gr.Markdown("", elem_id="pg-adapter-note")
    task_state = gr.State(None)

    with gr.Group(visible=False) as text_group:
        with gr.Row():
            text = gr.Textbox(
                label="Text",
                lines=3,
                elem_id="pg-text",
                scale=3,
                placeholder="an utterly charming and hilarious film",
            )
            text_pair = gr.Textbox(
                label="Second text", lines=3, visible=False, elem_id="pg-text-pair", scale=2
            )
        predict = gr.Button("Predict", variant="primary", elem_id="pg-predict")
        result = gr.Markdown("", elem_id="pg-result")
        with gr.Row():
            adapted = gr.Label(label="Base + adapter", num_top_classes=5, elem_id="pg-adapted")
            base = gr.Label(label=FRESH_HEAD, num_top_classes=5, elem_id="pg-base", show_heading=False)

    with gr.Group(visible=False) as chat_group:
        with gr.Row():
            base_chat = gr.Chatbot(label=BASE_LABEL, elem_id="pg-chat-base", height=320)
            adapted_chat = gr.Chatbot(label="Base + adapter", elem_id="pg-chat-adapted", height=320)
        prompt = gr.Textbox(label="Message", lines=2, elem_id="pg-prompt", placeholder="Hello! How are you?")
        with gr.Row():
            generate = gr.Button(
                "Send (same prompt, seed and sampling for both)", variant="primary", elem_id="pg-generate"
            )
            clear_chat = gr.Button("New conversation", elem_id="pg-chat-clear", size="sm")
        chat_status = gr.Markdown("", elem_id="pg-chat-status")
        with gr.Row():
            max_new = gr.Slider(8, 512, value=96, step=8, label="Max new tokens", elem_id="pg-max-new")
            temperature = gr.Slider(
                0.0, 1.5, value=0.7, step=0.05, label="Temperature (0: greedy)", elem_id="pg-temperature"
            )
            top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="Top-p")
            seed = gr.Number(value=0, precision=0, label="Seed")
    base_history = gr.State([])  # each side's own conversation, without the display's markers
    adapted_history = gr.State([])

    with gr.Group(visible=False) as image_group:
        with gr.Row():
            image = gr.Image(type="pil", label="Image", elem_id="pg-image", height=240)
            with gr.Column():
                classify = gr.Button("Classify", variant="primary", elem_id="pg-classify")
                image_result = gr.Markdown("", elem_id="pg-image-result")
                image_adapted = gr.Label(
                    label="Base + adapter", num_top_classes=5, elem_id="pg-image-adapted"
                )
                image_base = gr.Label(
                    label=FRESH_HEAD, num_top_classes=5, elem_id="pg-image-base", show_heading=False
                )

    with gr.Row():
        adapter_btn = gr.Button("Build adapter zip", elem_id="pg-adapter-zip", size="sm", interactive=False)
        merged_btn = gr.Button(
            "Build merged model zip", elem_id="pg-merged-zip", size="sm", interactive=False
        )
    downloads = gr.File(
        label="Downloads", file_count="multiple", interactive=False, elem_id="pg-downloads", visible=False
    )

    def refresh_choices(current=None, request: gr.Request = None):
        try:  # the newest finished jobs only: the store may hold thousands
            jobs, _ = backend.list_jobs_page(viewer_of(request), "succeeded", None, 0, PICKER_SIZE)
        except Exception:  # noqa: BLE001 - the store unreachable: an empty picker, the Jobs tab says why
            jobs = []
        choices = job_choices(jobs, statuses=("succeeded",))
        valid = {v for _, v in choices}
        return gr.update(choices=choices, value=current if current in valid else None)

    def cleared(job: dict | None):
        """Every result and download of the previous job gone; the panels named after this one."""
        tag = f"{job_tag(job)} · " if job else ""
        fresh = lambda label: gr.update(value=None, label=f"{tag}{label}")  # noqa: E731
        return [
            "",
            fresh("Base + adapter"),
            fresh(FRESH_HEAD),
            "",
            fresh("Base + adapter"),
            fresh(FRESH_HEAD),
            fresh(BASE_LABEL),
            fresh("Base + adapter"),
            [],
            [],
            gr.update(value=None, visible=False),
            gr.update(interactive=job is not None),
            gr.update(interactive=job is not None),
            "",
        ]

    results = [
        result,
        adapted,
        base,
        image_result,
        image_adapted,
        image_base,
        base_chat,
        adapted_chat,
        base_history,
        adapted_history,
        downloads,
        adapter_btn,
        merged_btn,
        chat_status,
    ]

    def on_select(job_id, request: gr.Request):
        """The previous job's results and downloads go at once; then the new job loads."""
        hidden = [gr.update(visible=False)] * 3
        blank = ["", "", None, *hidden, gr.update()] + cleared(None)
        if not job_id:
            yield blank
            return
        yield [f"Loading job #{job_id}…"] + blank[1:]
        try:
            predictor, job = load_predictor(job_id, viewer_of(request))
        except gr.Error as exc:  # the old results are gone even when the new job cannot load
            yield [f"✗ {exc.message}"] + blank[1:]
            return
        task = getattr(predictor, "task", None)
        spec = job.get("spec") or {}
        has_pair = bool(((spec.get("dataset") or {}).get("columns") or {}).get("text_pair"))
        yield [
            describe(predictor, job),
            adapter_off_note(job, task),
            task,
            gr.update(visible=task == "classification"),
            gr.update(visible=task == "causal-lm"),
            gr.update(visible=task == "image-classification"),
            gr.update(visible=has_pair),
        ] + cleared(job)

    select.change(
        on_select,
        [select],
        [status, note, task_state, text_group, chat_group, image_group, text_pair, *results],
        show_progress_on=[status],
    )
    refresh.click(refresh_choices, [select], [select])

    def on_predict(job_id, text_value, pair_value, request: gr.Request):
        if not (text_value or "").strip():
            raise gr.Error("Type some text first.")
        predictor, job = load_predictor(job_id, viewer_of(request))
        pair = pair_value or None
        tuned, plain = predictor.classify(text_value, pair), predictor.classify_base(text_value, pair)
        return result_line(job, tuned, plain, head_is_fresh=True), tuned, plain

    predict.click(on_predict, [select, text, text_pair], [result, adapted, base])
    text.submit(on_predict, [select, text, text_pair], [result, adapted, base])

    def on_generate(
        job_id,
        prompt_value,
        base_hist,
        adapted_hist,
        max_new_tokens,
        temp,
        p,
        seed_value,
        request: gr.Request,
    ):
        if not (prompt_value or "").strip():
            raise gr.Error("Type a message first.")
        predictor, job = load_predictor(job_id, viewer_of(request))
        settings = (max_new_tokens, temp, p, seed_value)
        for shown_base, shown_adapted, clean_base, clean_adapted, line in side_by_side(
            predictor, prompt_value, base_hist, adapted_hist, *settings
        ):
            yield shown_base, shown_adapted, clean_base, clean_adapted, "", f"{job_tag(job)} · {line}"

    chat_inputs = [select, prompt, base_history, adapted_history, max_new, temperature, top_p, seed]
    chat_outputs = [base_chat, adapted_chat, base_history, adapted_history, prompt, chat_status]
    generate.click(on_generate, chat_inputs, chat_outputs)
    prompt.submit(on_generate, chat_inputs, chat_outputs)
    clear_chat.click(lambda: ([], [], [], [], ""), None, chat_outputs[:4] + [chat_status])

    def on_classify(job_id, picture, request: gr.Request):
        if picture is None:
            raise gr.Error("Upload an image first.")
        predictor, job = load_predictor(job_id, viewer_of(request))
        tuned = predictor.classify_image(picture, use_adapter=True)
        plain = predictor.classify_image(picture, use_adapter=False)
        return result_line(job, tuned, plain, head_is_fresh=True), tuned, plain

    classify.click(on_classify, [select, image], [image_result, image_adapted, image_base])

    def build_zip(kind):
        def handler(job_id, current, request: gr.Request, progress=gr.Progress()):
            job = _finished_job(job_id, viewer_of(request))
            if kind == "merged" and ((job.get("spec") or {}).get("model") or {}).get("trust_remote_code"):
                raise gr.Error(str(no_remote_code_here()))  # merging loads the model here
            progress(0.1, desc=f"Building the {kind} zip…")
            try:
                built = backend.export_zip(kind, job["output_dir"])
            except Exception as exc:  # noqa: BLE001
                raise gr.Error(f"Could not build the {kind} zip: {backend.user_message(exc)}") from exc
            staged = stage_for_download(built, job_id)
            # only this job's files: a zip staged for the previous job is never offered here
            prefix = f"job{job_id}-"
            files = [
                f
                for f in (current or [])
                if isinstance(f, str)
                and Path(f).name.startswith(prefix)
                and Path(f).name != Path(staged).name
            ]
            return gr.update(value=files + [staged], visible=True, label=f"Downloads of {job_tag(job)}")

        return handler

    adapter_btn.click(build_zip("adapter"), [select, downloads], [downloads])
    merged_btn.click(build_zip("merged"), [select, downloads], [downloads])
    return PlaygroundTab(select=select, refresh=refresh_choices)
