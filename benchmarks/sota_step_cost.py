"""CPU seconds per training step of `sasrec` on a prepared dataset, for each option of the ablation.

The step loop of `chronorec train` (batch 128, max length 50, one thread): 5 warm-up steps, then
the mean CPU time of 20 steps. CPU time, not wall time, so other work on the machine barely moves
it.

    OMP_NUM_THREADS=1 python benchmarks/sota_step_cost.py data/s3-beauty [ENTRY ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from chronorec.data.batches import train_windows
from chronorec.data.dataset import load_dataset
from chronorec.data.split import make_split
from chronorec.models import ModelParts, build_model
from chronorec.training.config import TrainConfig
from chronorec.training.distributed import DistContext
from chronorec.training.optim import make_optimizer, make_sampled_loss

sys.path.insert(0, str(Path(__file__).parent))
from sota_amazon import ENTRIES, ESASREC_SHAPE  # noqa: E402

WARMUP, MEASURED, BATCH = 5, 20, 128


def step_seconds(data_path: Path, label: str) -> tuple[float, int]:
    """Mean CPU seconds per step with entry ``label``, and the steps in one epoch."""
    data = load_dataset(data_path)
    windows = train_windows(data, make_split(data, "loo").train_end, 50, None)
    change = ENTRIES[label]
    train_fields = {name for name in TrainConfig.__dataclass_fields__}
    train = {k: v for k, v in change.items() if k in train_fields}
    model_params = {**ESASREC_SHAPE, **{k: v for k, v in change.items() if k not in train_fields}}
    config = TrainConfig(data=str(data_path), model_params=model_params, **train)
    loss = None
    if config.loss == "sampled":
        loss = make_sampled_loss(windows, data.num_items, config, DistContext())
    torch.manual_seed(0)
    model = build_model(
        "sasrec", model_params, num_items=data.num_items, parts=ModelParts(item_loss=loss)
    )
    optimizer = make_optimizer(model, config, torch.device("cpu"))
    batches = iter(windows.batches(BATCH, generator=torch.Generator().manual_seed(0)))
    started = 0.0
    for step in range(WARMUP + MEASURED):
        if step == WARMUP:
            started = time.process_time()
        inputs, targets = next(batches)
        value, _ = model.loss(inputs, targets)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    return (time.process_time() - started) / MEASURED, -(-len(windows) // BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("entries", nargs="*", default=list(ENTRIES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for label in args.entries:
        seconds, steps = step_seconds(args.data, label)
        print(f"{label}: {seconds:.3f} CPU s/step, {seconds * steps:.0f} CPU s/epoch", flush=True)


if __name__ == "__main__":
    main()
