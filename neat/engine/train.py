"""The training engine: one spec in, one output directory out. Also the CLI.

    python -m neat.train RUN.yaml [--output-dir DIR] [--resume]
    python -m neat.train RUN.yaml --check        (the dataset check alone)
    python -m neat.train --example classification|causal-lm|image

run() builds everything from the spec and drives transformers' Trainer (mixed precision,
gradient accumulation, DDP under `accelerate launch`, checkpoints with optimizer and scheduler
state). Listeners (neat/engine/events.py) see every log event and may stop training cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments, set_seed

from neat.engine import metrics
from neat.engine import precision as precisions
from neat.engine.attach import attach_method, parameter_groups
from neat.engine.data import load_raw
from neat.engine.data_check import check_dataset
from neat.engine.distributed import rank
from neat.engine.errors import OutOfMemoryError, TrainingStopped, UserError
from neat.engine.events import PrintListener, TrainingListener
from neat.engine.loading import head_module_names, load_base_model, load_processor
from neat.engine.progress import EventBridge, MetricsFile
from neat.engine.rundir import RunDir
from neat.engine.spec import RunSpec, example_spec
from neat.engine.splits import split_dataset
from neat.engine.tasks import label_info, perplexity, prepare_task


def _precision_flags(precision: str) -> dict:
    """Trainer's own mixed-precision flags for a resolved precision (autocast on CPU too)."""
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


class _NeatTrainer(Trainer):
    """Trainer with separate learning rates for the adapter and the task head."""

    def __init__(self, *args, neat_spec: RunSpec, **kwargs):
        self._neat_spec = neat_spec
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            groups = parameter_groups(self.model, self._neat_spec)
            self.optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8)
        return self.optimizer


def _training_arguments(
    spec: RunSpec, checkpoints: Path, main_metric: str, precision: str
) -> TrainingArguments:
    t = spec.training
    metric = t.metric_for_best or main_metric
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio,  # a float below 1 is a ratio of the total steps
        lr_scheduler_type="linear",
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.eval_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=metrics.greater_is_better(metric),  # mse, loss...: keep the lowest
        logging_steps=t.logging_steps,
        logging_first_step=True,
        seed=t.seed,
        data_seed=t.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        save_only_model=False,
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
        # Classification heads ignore Trainer's token count, which would then scale their loss
        # by the number of processes under DDP; only causal LMs normalise by it.
        average_tokens_across_devices=spec.task == "causal-lm",
        **_precision_flags(precision),
    )


def run(
    spec: RunSpec,
    output_dir: str | Path,
    listeners: tuple[TrainingListener, ...] | list = (),
    resume: bool = False,
) -> dict:
    """Train `spec` into `output_dir`; returns the summary (also written to summary.json)."""
    spec.validate()
    out = RunDir(output_dir)
    main = rank() == 0  # rank 0 reports and writes the run's files
    if main:
        out.checkpoints.mkdir(parents=True, exist_ok=True)
        spec.save(out.spec_file)
    listeners = list(listeners) if main else []
    latest = out.latest_checkpoint() if resume else None
    resume_from = str(latest) if latest else None
    metrics_file = MetricsFile(out, keep_up_to_step=out.latest_checkpoint_step() if latest else None)
    if main:
        listeners.insert(0, metrics_file)
    bridge = EventBridge(listeners, add_perplexity=spec.task == "causal-lm")
    bridge.message(
        f"resuming from {Path(resume_from).name}" if resume_from else f"starting run {spec.name!r}"
    )

    set_seed(spec.training.seed)
    started = time.time()
    try:
        processor = load_processor(spec)
        # The check rejects unusable data with a clear reason before any model work starts.
        raw = load_raw(spec.dataset.source, spec.dataset.hub_split)
        tokenizer = None if spec.task == "image-classification" else processor
        report = check_dataset(spec, tokenizer=tokenizer, raw=raw)
        for warning in report.warnings:
            bridge.message(f"dataset check: {warning}", level="warning")
        cut = report.truncation_sentence()
        if cut and cut not in report.warnings:  # the number the Train tab's check showed
            bridge.message(f"dataset check: {cut}")
        splits = split_dataset(spec, raw=raw)
        train_raw, eval_raw = splits.train, splits.validation
        info = label_info(spec, train_raw, eval_raw)
        task = prepare_task(spec, processor, train_raw, eval_raw, info)
        held_out = f", {len(splits.test)} test rows" if splits.test is not None else ""
        bridge.message(f"data: {len(task.train)} training rows, {len(task.eval)} validation rows{held_out}")
        if splits.test is not None and main:
            from neat.engine.holdout import save_test_split

            save_test_split(splits.test, out.test_split)
        bridge.eta.eval_rows = len(task.eval)  # prices the final evaluation before one is timed
        device = "cuda" if torch.cuda.is_available() else "cpu"
        run_precision = precisions.resolve(spec.training.precision, device)
        model = load_base_model(
            spec,
            labels=info.names if info else None,
            regression=bool(info and info.regression),
            dtype=precisions.base_dtype(run_precision, spec.method.name),
        )
        heads = head_module_names(model)
        model = attach_method(model, spec, heads)
        precisions.trainable_to_fp32(model)
        precisions.heads_in_fp32(model, heads)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        bridge.message(f"method {spec.method.name}: {trainable:,} trainable of {total:,} parameters")
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        bridge.message(f"devices: {device}, world_size={world_size}, precision {run_precision}")
        if world_size != spec.training.num_devices:
            bridge.message(_process_count_warning(spec.training.num_devices, world_size), level="warning")

        args = _training_arguments(spec, out.checkpoints, task.main_metric, run_precision)
        callbacks = [bridge]
        if spec.training.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(spec.training.early_stopping_patience))
        trainer = _NeatTrainer(
            model=model,
            args=args,
            train_dataset=task.train,
            eval_dataset=task.eval,
            data_collator=task.collator,
            compute_metrics=task.compute_metrics,
            callbacks=callbacks,
            neat_spec=spec,
        )
        trainer.remove_callback(PrinterCallback)  # listeners report instead of raw dict prints
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        trainer.train(resume_from_checkpoint=resume_from)
        if bridge.stop_requested:
            bridge.message("training stopped on request; the last checkpoint is kept")
            raise TrainingStopped("stopped on request")
        bridge.muted = True  # the final evaluation is reported once, as split "final"
        final = trainer.evaluate()
        bridge.muted = False
        if "eval_loss" in final and task.main_metric == "loss":
            final["eval_perplexity"] = perplexity(final["eval_loss"])
        bridge.final_eval(trainer.state.global_step, trainer.state.epoch, final)
    except torch.OutOfMemoryError as exc:
        raise OutOfMemoryError(f"out of memory: {str(exc).splitlines()[0] if str(exc) else exc}") from exc

    summary = {}
    if main:
        # the n behind each metric: validation metrics are on these rows, test metrics on those
        rows = {
            "train": len(task.train),
            "validation": len(task.eval),
            "test": len(splits.test) if splits.test is not None else 0,
        }
        summary = _save_outputs(spec, out, trainer, processor, info, final, trainable, started, rows)
        if splits.test is not None:
            bridge.message(f"scoring the test split with the kept checkpoint ({len(splits.test)} rows)")
            _score_test_split(spec, out, trainer, processor, info, run_precision, bridge, summary)
        bridge.message(f"finished: {_format_metrics(summary['eval'])}")
    return summary


def _save_outputs(
    spec, out: RunDir, trainer, processor, info, final: dict, trainable: int, started: float, rows: dict
) -> dict:
    from neat.engine.summary import library_versions, peak_memory_bytes

    trainer.model.save_pretrained(out.adapter)
    processor.save_pretrained(out.adapter)
    if info is not None:
        out.labels_file.write_text(json.dumps(info.to_json()), encoding="utf-8")
    summary = {
        "name": spec.name,
        "task": spec.task,
        "method": spec.method.name,
        "eval": {k: float(v) for k, v in final.items() if isinstance(v, (int, float))},
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric,
        "global_step": trainer.state.global_step,
        "rows": rows,
        "trainable_parameters": trainable,
        "precision": _precision_that_ran(trainer.args),
        "num_processes": trainer.args.world_size,  # data-parallel processes that trained it
        "train_seconds": round(time.time() - started, 2),
        "peak_memory_bytes": peak_memory_bytes(),
        "versions": library_versions(),
        "spec": spec.to_dict(),
    }
    out.summary_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if spec.training.save_merged and spec.method.name != "full":
        from neat.engine.export import merged_dir

        merged_dir(out.root)
    return summary


TEST_SPLIT_ANSWERS = 32  # chat: base and adapted answers generated after training (the loss covers all)


def _score_test_split(spec, out: RunDir, trainer, processor, info, precision: str, bridge, summary) -> None:
    """Score the kept (best) checkpoint, still in memory, on the held-out test split:
    test_metrics.json and predictions.csv in the run folder, the flat metrics in summary.json."""
    from neat.engine.evaluate import evaluate_run
    from neat.engine.inference import Predictor
    from neat.engine.scoring import flat_metrics

    model = trainer.model.eval()
    labels = info.names if info else None
    regression = bool(info and info.regression)
    device = next(model.parameters()).device
    predictor = Predictor(out.root, spec, model, processor, labels, regression, device, precision)
    metrics = evaluate_run(
        out.root,
        batch_size=spec.training.batch_size,
        predictor=predictor,
        max_answers=TEST_SPLIT_ANSWERS,  # a full evaluation job can answer every test prompt
    )
    summary["test_metrics"] = flat_metrics(metrics)
    out.summary_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    shown = {k: v for k, v in summary["test_metrics"].items() if v is not None}
    bridge.message(f"test split: {_format_metrics(shown)}")


def _process_count_warning(asked: int, running: int) -> str:
    """The launcher, not the engine, starts the processes: say when they differ from the spec."""
    return (
        f"training.num_devices is {asked} but {running} process(es) train this run (a job worker "
        f"that owns {asked} devices launches them; on the command line: accelerate launch "
        f"--num_processes {asked} -m neat.train ...)"
    )


def _precision_that_ran(args: TrainingArguments) -> str:
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"


def _format_metrics(values: dict) -> str:
    return ", ".join(
        f"{metrics.bare(k)}={v:.4g}" for k, v in sorted(values.items()) if not metrics.is_bookkeeping(k)
    )


# -- CLI ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neat.train",
        description="Fine-tune a model with NEAT, LoRA or full fine-tuning from a YAML spec.",
    )
    parser.add_argument("spec", nargs="?", help="path of the run spec (YAML)")
    parser.add_argument("--output-dir", help="where to write the run (default: runs/<spec name>)")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in the output dir"
    )
    parser.add_argument(
        "--example", choices=["classification", "causal-lm", "image"], help="print a ready-to-run spec"
    )
    parser.add_argument(
        "--method", choices=["neat", "lora", "full"], default="neat", help="with --example: the method"
    )
    parser.add_argument(
        "--check", action="store_true", help="only run the pre-queue check (model, targets, data) and report"
    )
    args = parser.parse_args(argv)
    if args.example:
        print(example_spec(args.example, args.method).to_yaml(), end="")
        return 0
    if not args.spec:
        parser.error("give a spec file, or --example TASK to print one")
    try:
        spec = RunSpec.load(args.spec)
        if args.check:
            return _check_only(spec)
        output_dir = args.output_dir or os.path.join("runs", spec.name)
        from neat.engine.progress import ProgressBar

        summary = run(spec, output_dir, [PrintListener(), ProgressBar()], resume=args.resume)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingStopped:
        return 130
    if summary:
        print(json.dumps(summary["eval"], indent=2))
        print(f"outputs in {output_dir}")
    return 0


def _check_only(spec: RunSpec) -> int:
    """The pre-queue check (neat/engine/prequeue.py, the same one `jobs submit` and the UI run), then
    the fit check (neat/engine/fit.py): memory and time this run needs."""
    from neat.engine.fit import estimate
    from neat.engine.prequeue import check_run

    result = check_run(spec)
    report = result.report
    if report is not None:
        print(report.summary_markdown())
    for warning in result.warnings:
        if report is None or warning not in report.warnings:
            print(f"warning: {warning}")
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    if result.errors:
        return 2
    if report is not None:
        rows = int(report.rows * (1 - spec.dataset.test_fraction))  # the test rows never train
        rows = rows if not spec.dataset.max_rows else min(rows, spec.dataset.max_rows)
        if not spec.dataset.validation_source:
            rows = int(rows * (1 - spec.dataset.validation_fraction))
        labels = max(2, len(report.label_counts or {}))
        fit = estimate(spec, train_rows=rows, num_labels=labels, token_lengths=report.token_lengths)
        print(f"\nfit check: {fit.sentence()}")
        for warning in fit.warnings():
            print(f"warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
