"""The ``chronorec`` command: a thin layer over :mod:`chronorec.api`.

Errors in the user's input print one line to stderr (no traceback) and exit with code 2.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from chronorec.errors import ChronorecError

app = typer.Typer(
    help="Learn from user behaviour sequences and recommend what each user wants next.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Known public datasets: list them, fetch one.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
console = Console()

MODEL_HELP = "Model name: pop, markov, gru4rec, sasrec, lstm-attn, chrono, multiscale, interests."


def _metric_table(title: str, rows: dict[str, dict[str, float]], columns: list[str]) -> Table:
    table = Table(title=title)
    table.add_column("")
    for c in columns:
        table.add_column(c, justify="right")
    for name, values in rows.items():
        table.add_row(name, *(_fmt(values.get(c)) for c in columns))
    return table


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


@app.command()
def prepare(
    input: Annotated[Path, typer.Argument(help="Event log: CSV, TSV, Parquet, RecBole .inter, MovieLens u.data/ratings.dat, or sequences.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write (written atomically).")],
    format: Annotated[str, typer.Option(help="auto|csv|tsv|parquet|recbole|movielens|sequences")] = "auto",
    delimiter: Annotated[Optional[str], typer.Option(help="Field delimiter for csv (default: guessed).")] = None,
    columns: Annotated[Optional[str], typer.Option(help="Comma-separated column names for a CSV/TSV without a header row.")] = None,
    items: Annotated[Optional[Path], typer.Option(help="Item metadata: MovieLens u.item, or CSV/Parquet with item_id, title, categories.")] = None,
    times: Annotated[Optional[Path], typer.Option(help="For the sequences format: a parallel file of timestamps.")] = None,
    user_col: Annotated[str, typer.Option(help="User id column.")] = "user_id",
    item_col: Annotated[str, typer.Option(help="Item id column.")] = "item_id",
    time_col: Annotated[str, typer.Option(help="Timestamp column (unix s, unix ms or ISO-8601).")] = "timestamp",
    event_col: Annotated[Optional[str], typer.Option(help="Event type column (view, cart, buy...), if any.")] = None,
    rating_col: Annotated[Optional[str], typer.Option(help="Rating column, if any.")] = None,
    min_rating: Annotated[Optional[float], typer.Option(help="Keep events with rating >= this.")] = None,
    user_core: Annotated[int, typer.Option(help="Keep users with at least this many events (k-core, iterated).")] = 0,
    item_core: Annotated[int, typer.Option(help="Keep items with at least this many events (k-core, iterated).")] = 0,
    strict: Annotated[bool, typer.Option(help="Make row-level problems fatal instead of dropping and counting them.")] = False,
    pseudonymize_users: Annotated[Optional[str], typer.Option(help="Replace user ids by salted hashes (the value is the salt).")] = None,
) -> None:
    """Validate an event log and write a dataset folder (Parquet + manifest.json)."""
    from chronorec import api

    result = api.prepare(
        input, out, format=format, delimiter=delimiter, items=items,
        columns=tuple(c.strip() for c in columns.split(",")) if columns else None, times=times, user_col=user_col,
        item_col=item_col, time_col=time_col, event_col=event_col, rating_col=rating_col, min_rating=min_rating,
        user_core=user_core, item_core=item_core, strict=strict, pseudonymize_users=pseudonymize_users,
    )
    dropped = ", ".join(f"{k} {v}" for k, v in result.dropped.items() if v) or "none"
    console.print(
        f"wrote {result.out}: {result.interactions:,} interactions, {result.users:,} users, "
        f"{result.items:,} items; dropped: {dropped}"
    )


@app.command()
def train(
    data: Annotated[Optional[Path], typer.Argument(help="Prepared dataset folder (from `chronorec prepare`).")] = None,
    model: Annotated[Optional[str], typer.Option(help=MODEL_HELP)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: config, best model, curves, metrics.")] = Path("runs/latest"),
    config: Annotated[Optional[Path], typer.Option(help="TOML config (e.g. a run's config.toml); flags override it.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (early stopping may end sooner).")] = None,
    max_len: Annotated[Optional[int], typer.Option(help="Events of history the model sees.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Windows per batch.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="AdamW learning rate.")] = None,
    lr_schedule: Annotated[Optional[str], typer.Option(help="constant, or cosine (warmup then decay to 0 at the last epoch).")] = None,
    warmup_epochs: Annotated[Optional[int], typer.Option(help="Linear warmup epochs for --lr-schedule cosine.")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Stop after this many epochs without a better validation NDCG@10.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same metrics).")] = None,
    split: Annotated[Optional[str], typer.Option(help="loo (leave-one-out) or temporal.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda, cuda:N.")] = None,
    set: Annotated[Optional[list[str]], typer.Option("--set", help="Model setting KEY=VALUE, e.g. --set dim=128 (repeatable).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run folder's last checkpoint.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    loss: Annotated[Optional[str], typer.Option(help="full (softmax over every item) or sampled (log-Q corrected negatives; for huge catalogues).")] = None,
    negatives: Annotated[Optional[int], typer.Option(help="Sampled negatives per batch with --loss sampled.")] = None,
    text_features: Annotated[bool, typer.Option(help="Add language-model vectors of item titles and categories to the item embeddings.")] = False,
    init: Annotated[Optional[Path], typer.Option(help="Start from the matching weights of this run folder (e.g. from pretraining).")] = None,
    nproc: Annotated[int, typer.Option(help="Train with DDP in this many local processes (torchrun); --batch-size stays the global batch.")] = 1,
    amp: Annotated[bool, typer.Option(help="bf16 autocast on CUDA (ignored on CPU).")] = False,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model: for CUDA; on CPU it made training steps slower here (BENCHMARKS.md).")] = False,
) -> None:
    """Train a model; the run folder records the full config (rerun with --config RUN/config.toml).

    Several processes: `--nproc N` here, or `torchrun --nproc_per_node N -m chronorec train ...`
    (add torchrun's --nnodes/--node-rank/--rdzv-endpoint options for several machines).
    """
    from chronorec import api
    from chronorec.training.config import TrainConfig

    if nproc > 1:
        from chronorec.training.distributed import launch

        raise typer.Exit(launch(nproc, _without_option(sys.argv[1:], "--nproc")))

    base = TrainConfig.load(config) if config else None
    options = {
        k: v
        for k, v in dict(model=model, epochs=epochs, max_len=max_len, batch_size=batch_size, lr=lr,
                         lr_schedule=lr_schedule, warmup_epochs=warmup_epochs,
                         patience=patience, seed=seed, split=split, device=device,
                         loss=loss, negatives=negatives, init=str(init) if init else None,
                         text_features=text_features or None, amp=amp or None, compile=compile_model or None).items()
        if v is not None
    }
    if set:
        params = dict(base.model_params) if base else {}
        params.update(parse_settings(set))
        options["model_params"] = params
    result = api.train(data, out=out, config=base, resume=resume, progress=progress, **options)
    columns = ["HR@10", "NDCG@10", "MRR@10"]
    console.print(_metric_table(f"{result.model}: best epoch {result.best_epoch} of {result.epochs}, "
                                f"{result.train_seconds:.0f}s, {result.params:,} parameters",
                                {"valid": result.valid, "test": result.test}, columns))
    console.print(f"run folder: {result.run_dir}")


def _without_option(argv: list[str], name: str) -> list[str]:
    """``argv`` minus ``name VALUE`` / ``name=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` settings; values are read as JSON where they parse (numbers, booleans, lists)."""
    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ChronorecError(f"--set expects KEY=VALUE, got '{pair}'")
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw
    return settings


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Run folder from `chronorec train`.")],
    split: Annotated[str, typer.Option(help="valid or test.")] = "test",
    exclude_seen: Annotated[Optional[bool], typer.Option("--exclude-seen/--include-seen", help="Drop history items from the candidates (default: as trained).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics to this JSON file.")] = None,
    k: Annotated[Optional[str], typer.Option("--k", help="Comma-separated cut-offs, e.g. 5,10,20 (default: as trained).")] = None,
) -> None:
    """Full-ranking HR/NDCG/MRR/Recall@K and coverage of a trained run."""
    from chronorec import api
    from chronorec._io import write_json

    try:
        ks = tuple(int(x) for x in k.split(",")) if k else None
    except ValueError:
        raise ChronorecError(f"--k expects comma-separated integers, got '{k}'") from None
    ev = api.evaluate(run_dir, split, exclude_seen=exclude_seen, ks=ks)
    ks = sorted({m.split("@")[1] for m in ev.metrics if "@" in m}, key=int)
    names = list(dict.fromkeys(m.split("@")[0] for m in ev.metrics if "@" in m))
    rows = {name: {f"@{k}": ev.metrics.get(f"{name}@{k}") for k in ks} for name in names}
    rows.update({m: {f"@{ks[0]}": v} for m, v in ev.metrics.items() if "@" not in m})
    console.print(_metric_table(f"{ev.model} on {split} ({ev.cases} cases, full ranking, exclude_seen={ev.exclude_seen})",
                                rows, [f"@{k}" for k in ks]))
    if json_out:
        write_json(json_out, {"run_dir": str(ev.run_dir), "model": ev.model, "split": split,
                              "exclude_seen": ev.exclude_seen, "cases": ev.cases, "metrics": ev.metrics})


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(help="Run folders; the first is the baseline. Join one model's seeds with commas (runs/a-seed0,runs/a-seed1) to average them per case.")],
    split: Annotated[str, typer.Option(help="valid or test.")] = "test",
    metric: Annotated[str, typer.Option(help="HR, NDCG, MRR or Recall at a cut-off.")] = "NDCG@10",
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the cases.")] = 2000,
    confidence: Annotated[float, typer.Option(help="Confidence level of the interval.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the resampling.")] = 0,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the comparison to this JSON file.")] = None,
) -> None:
    """Paired comparison on the same cases: each run's difference from the first, with a bootstrap interval."""
    from chronorec import api
    from chronorec._io import write_json

    groups = [[part for part in arg.split(",") if part] for arg in runs]
    rows = api.compare(groups, split, metric=metric, resamples=resamples, confidence=confidence, seed=seed)
    # A short label per group (the first folder's name, + how many more); the JSON keeps full paths.
    label = [row.run_dirs[0].name + (f" +{len(row.run_dirs) - 1}" if len(row.run_dirs) > 1 else "") for row in rows]
    label = [name if name.startswith(row.model) else f"{name} ({row.model})" for name, row in zip(label, rows)]
    table = Table(title=f"{metric} on {split}: each row against the first, case by case "
                        f"({confidence:.0%} bootstrap interval of the difference)")
    for col in ("runs", metric, "difference", "relative", "interval", "better / worse"):
        table.add_column(col, justify="left" if col == "runs" else "right", overflow="fold")
    table.add_row(label[0], _fmt(rows[0].mean), "", "", "", "")
    for name, row in zip(label[1:], rows[1:]):
        p = row.paired
        assert p is not None
        table.add_row(name, _fmt(row.mean), f"{p.difference:+.4f}" + (" *" if p.significant else ""),
                      f"{p.relative:+.1%}", f"[{p.ci_low:+.4f}, {p.ci_high:+.4f}]", f"{p.better:,} / {p.worse:,}")
    console.print(table)
    console.print(f"{p.cases:,} cases, {resamples:,} resamples; * the interval excludes 0.")
    if json_out:
        write_json(json_out, {"split": split, "metric": metric, "confidence": confidence, "groups": [
            {"runs": [str(p) for p in r.run_dirs], "model": r.model, "mean": r.mean,
             "paired": None if r.paired is None else {**dataclasses.asdict(r.paired), "relative": r.paired.relative}}
            for r in rows]})


@app.command()
def recommend(
    run_dir: Annotated[Path, typer.Argument(help="Run folder from `chronorec train`.")],
    user: Annotated[str, typer.Option("--user", "-u", help="The user's original id.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    exclude_seen: Annotated[bool, typer.Option(help="Leave out items the user already has.")] = False,
) -> None:
    """Top-K items for a user after their whole history, with titles where known."""
    from chronorec import api

    table = Table(title=f"top {k} for user {user}")
    for col in ("rank", "item", "score", "title"):
        table.add_column(col)
    for rank, rec in enumerate(api.recommend(run_dir, user, k, exclude_seen=exclude_seen), 1):
        table.add_row(str(rank), rec.item_id, f"{rec.score:.3f}", rec.title or "")
    console.print(table)


@app.command()
def benchmark(
    data: Annotated[Path, typer.Argument(help="Prepared dataset folder.")],
    models: Annotated[str, typer.Option(help="Comma-separated model names or --variant labels.")] = "pop,markov,gru4rec,sasrec",
    variant: Annotated[Optional[list[str]], typer.Option(help="'LABEL=MODEL KEY=VALUE ...': a model with settings, e.g. 'chrono-no-time-bias=chrono time_bias=false'; training options such as lr=1e-2 apply to that entry only; list LABEL in --models. Repeatable.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON leaderboard to write.")] = Path("results.json"),
    runs_dir: Annotated[Optional[Path], typer.Option(help="Folder for the run folders (default: beside --out); finished runs there are reused.")] = None,
    max_len: Annotated[int, typer.Option(help="Events of history every model sees.")] = 50,
    seeds: Annotated[int, typer.Option(help="Seeds per model (metrics are averaged, spread reported).")] = 1,
    epochs: Annotated[int, typer.Option(help="Maximum epochs per neural model.")] = 200,
    split: Annotated[str, typer.Option(help="loo or temporal.")] = "loo",
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    lr_schedule: Annotated[str, typer.Option(help="constant or cosine.")] = "constant",
    warmup_epochs: Annotated[int, typer.Option(help="Linear warm-up epochs.")] = 0,
    patience: Annotated[int, typer.Option(help="Early-stopping patience in epochs.")] = 20,
    max_train_seconds: Annotated[float, typer.Option(help="Training time limit per run (0: none).")] = 0.0,
    loss: Annotated[str, typer.Option(help="full or sampled softmax.")] = "full",
    negatives: Annotated[int, typer.Option(help="Sampled negatives per batch for --loss sampled.")] = 256,
    threads: Annotated[int, typer.Option(help="CPU threads per run (0: PyTorch's default).")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train each model with the same protocol (early stopping), print the leaderboard and write it as JSON."""
    from chronorec import api

    variants = dict(parse_variant(v) for v in variant or [])
    names = [m.strip() for m in models.split(",") if m.strip()]
    result = api.benchmark(
        data, names, out, seeds=seeds, runs_dir=runs_dir, variants=variants, progress=progress, max_len=max_len,
        epochs=epochs, split=split, lr=lr, lr_schedule=lr_schedule, warmup_epochs=warmup_epochs, patience=patience,
        max_train_seconds=max_train_seconds, loss=loss, negatives=negatives, threads=threads,
    )
    console.print(leaderboard_table(result.report))
    console.print(f"wrote {result.path}")


def parse_variant(text: str) -> tuple[str, tuple[str, dict[str, object]]]:
    """``'LABEL=MODEL KEY=VALUE ...'`` as ``(LABEL, (MODEL, settings))``."""
    head, *pairs = text.split() or [""]
    label, sep, model = head.partition("=")
    if not (sep and label and model):
        raise ChronorecError(f"--variant expects 'LABEL=MODEL KEY=VALUE ...', got '{text}'")
    return label, (model, parse_settings(pairs))


def leaderboard_table(report: dict) -> Table:
    """The benchmark table: valid/test HR@10, NDCG@10, MRR@10, seconds, epochs, parameters."""
    table = Table(title=f"{report['dataset']} ({report['split']}, full ranking, exclude_seen={report['exclude_seen']}, seeds={report['seeds']})")
    for col in ("model", "valid HR@10", "valid NDCG@10", "valid MRR@10", "test HR@10", "test NDCG@10", "test MRR@10", "train s", "epochs", "params"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in report["models"].items():
        table.add_row(
            name,
            *(f"{m[s][k]:.4f}" for s in ("valid", "test") for k in ("HR@10", "NDCG@10", "MRR@10")),
            f"{m['train_seconds']:.1f}", f"{m['epochs']:.0f}", f"{m['params']:,}",
        )
    return table


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(help="Run folder of a `multiscale` model.")],
    user: Annotated[str, typer.Option("--user", "-u", help="The user's original id.")],
    k: Annotated[int, typer.Option("-k", help="Top items shown per scale.")] = 5,
    png: Annotated[Optional[Path], typer.Option(help="Where to write the average-scale-weight plot (default: the run folder).")] = None,
) -> None:
    """A user's weight on each time scale (session, day, week, all) and what each scale alone recommends."""
    from chronorec.explain import explain_user, format_scale_explanation

    result = explain_user(run_dir, user, png=png, k=k)
    console.print(format_scale_explanation(result))
    console.print(f"wrote {result.png}")


@app.command()
def interests(
    run_dir: Annotated[Path, typer.Argument(help="Run folder of an `interests` model.")],
    user: Annotated[str, typer.Option("--user", "-u", help="The user's original id.")],
    k: Annotated[int, typer.Option("-k", help="Strongest items shown per interest.")] = 5,
    png: Annotated[Optional[Path], typer.Option(help="Where to write the interest timeline (default: the run folder).")] = None,
) -> None:
    """A user's interest vectors (their strongest items) and how the interests moved over the history."""
    from chronorec.explain import format_interest_report, interest_report

    result = interest_report(run_dir, user, k=k, png=png)
    console.print(format_interest_report(result))
    console.print(f"wrote {result.png}")


@app.command()
def serve(
    run_dir: Annotated[Path, typer.Argument(help="Run folder from `chronorec train`.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    db: Annotated[Optional[str], typer.Option(help="SQLite file or postgresql:// URL for posted events (default RUN_DIR/events.sqlite).")] = None,
    api_key: Annotated[Optional[str], typer.Option(envvar="CHRONOREC_API_KEY", help="Key required for writes (X-API-Key header).")] = None,
) -> None:
    """Serve recommendations over HTTP; posted events change them at once (OpenAPI docs at /docs)."""
    from chronorec.serve.command import serve as run

    run(run_dir, host, port, db, api_key)


@app.command()
def pretrain(
    data: Annotated[Path, typer.Argument(help="Prepared dataset folder (from `chronorec prepare`).")],
    objective: Annotated[str, typer.Option(help="cloze (masked items), contrastive (two augmented views) or autoencoder (bag of items).")] = "cloze",
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "sasrec",
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to write; fine-tune from it with `chronorec train --init`.")] = Path("runs/pretrain"),
    epochs: Annotated[int, typer.Option(help="Pre-training epochs.")] = 20,
    max_len: Annotated[int, typer.Option(help="Events of history the model sees (use the same when fine-tuning).")] = 50,
    batch_size: Annotated[int, typer.Option(help="Sequences per batch (also the contrastive negatives).")] = 128,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Random seed (weights, masks and views).")] = 0,
    split: Annotated[str, typer.Option(help="loo or temporal: only its training events are read (use the same when fine-tuning).")] = "loo",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    threads: Annotated[int, typer.Option(help="CPU threads (0: PyTorch's default).")] = 0,
    set: Annotated[Optional[list[str]], typer.Option("--set", help="Model setting KEY=VALUE, e.g. --set dim=128 (repeatable; use the same when fine-tuning).")] = None,
    objective_set: Annotated[Optional[list[str]], typer.Option("--objective-set", help="Objective setting KEY=VALUE: mask_prob, temperature, crop, mask, reorder, projection_dim, corrupt.")] = None,
    text_features: Annotated[bool, typer.Option(help="Add language-model vectors of item titles and categories to the item embeddings.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Self-supervised pre-training of a sequence model; then `chronorec train --init RUN_DIR` fine-tunes it."""
    from chronorec.pretrain import pretrain as run

    result = run(
        data, objective, model, out, epochs, model_params=parse_settings(set or []),
        objective_params=parse_settings(objective_set or []), max_len=max_len, batch_size=batch_size, lr=lr,
        seed=seed, split=split, device=device, threads=threads, text_features=text_features, progress=progress,
    )
    console.print(f"{result.objective} pre-training of {result.model}: loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f} "
                  f"over {result.epochs} epochs, {result.seconds:.0f}s, {result.params:,} parameters")
    console.print(f"run folder: {result.run_dir}; fine-tune with: chronorec train {data} --model {model} --init {result.run_dir}")


@app.command()
def embed(
    run_dir: Annotated[Path, typer.Argument(help="Run folder from `chronorec train` or `chronorec pretrain`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for users.parquet and items.parquet (each written atomically).")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Use only events before this time (unix seconds or ISO-8601).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N.")] = "cpu",
) -> None:
    """Export user vectors (last hidden state after each history) and item vectors, with the original ids."""
    from chronorec.embed import embed as run

    result = run(run_dir, out, as_of=as_of, device=device)
    console.print(f"wrote {result.out}: users.parquet ({result.users:,} users), items.parquet ({result.items:,} items), "
                  f"{result.dim} dimensions")


@app.command()
def similar(
    run_dir: Annotated[Path, typer.Argument(help="Run folder from `chronorec train` or `chronorec pretrain`.")],
    item: Annotated[str, typer.Option("--item", "-i", help="The item's original id.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
) -> None:
    """The items nearest to ITEM by cosine similarity of the run's item vectors, with titles."""
    from chronorec.embed import similar as run

    table = Table(title=f"{k} items most similar to {item}")
    for col in ("rank", "item", "cosine", "title"):
        table.add_column(col)
    for rank, s in enumerate(run(run_dir, item, k), 1):
        table.add_row(str(rank), s.item_id, f"{s.score:.3f}", s.title or "")
    console.print(table)


@datasets_app.command("list")
def datasets_list() -> None:
    """Known public datasets, their home pages, and whether a local copy is found via CHRONOREC_DATA."""
    from chronorec.data import registry

    table = Table(title="known datasets")
    for col in ("name", "home page", "local copy"):
        table.add_column(col)
    for ds in registry.list_datasets():
        local = registry.find_local(ds.name)
        table.add_row(ds.name, ds.home_page, str(local) if local else "-")
    console.print(table)


@datasets_app.command("fetch")
def datasets_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name (see `chronorec datasets list`).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also prepare it into this dataset folder.")] = None,
    dest: Annotated[Path, typer.Option(help="Where raw downloads go.")] = Path("downloads"),
) -> None:
    """Find a local copy (CHRONOREC_DATA) or download a public dataset; with --out, prepare it too."""
    from chronorec.data import registry

    path = registry.fetch(name, dest)
    console.print(f"{name}: {path}")
    if out is not None:
        result = registry.prepare_known(name, out, dest=dest)
        console.print(f"prepared {result.out}: {result.interactions:,} interactions, {result.users:,} users, {result.items:,} items")


def main() -> None:
    """Entry point: Click reports usage errors itself (exit 2); chronorec's own errors become one line, exit 2."""
    try:
        app()  # standalone mode: usage errors, --help, Exit and Ctrl-C are handled by Click
    except ChronorecError as err:
        print(f"chronorec: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
