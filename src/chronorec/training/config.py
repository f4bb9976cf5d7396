"""Every training option in one dataclass, saved with each run as TOML and loadable back."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from chronorec._io import write_text
from chronorec.errors import ChronorecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class TrainConfig:
    """How to train one model on one prepared dataset.

    ``model_params`` holds the model's own settings (its config dataclass fields, e.g. ``dim``).
    """

    data: str = ""
    model: str = "sasrec"
    model_params: dict[str, Any] = field(default_factory=dict)
    split: str = "loo"
    max_len: int = 50
    stride: int = 0  # 0: same as max_len, every event a target once per epoch
    batch_size: int = 128
    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    lr_schedule: str = "constant"  # constant | cosine (decays to 0 at the last epoch, after warmup)
    warmup_epochs: int = 0
    patience: int = 20
    eval_every: int = 1
    seed: int = 0
    ks: list[int] = field(default_factory=lambda: [10, 20])
    exclude_seen: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # 0: PyTorch's default
    max_train_seconds: float = 0.0  # 0: no time limit
    amp: bool = False  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile the model
    eval_memory_mb: float = 256.0
    loss: str = "full"  # full | sampled (softmax over the target and sampled negatives, log-Q corrected)
    negatives: int = 256  # sampled negatives per batch for loss = sampled
    negative_sampler: str = "uniform"  # uniform | popularity
    in_batch_negatives: bool = True  # loss = sampled also uses the other rows' targets
    text_features: bool = False  # add language-model vectors of item titles/categories to item embeddings
    init: str = ""  # a run folder (e.g. from `chronorec pretrain`) whose matching weights start this model

    def validate(self) -> "TrainConfig":
        for name in ("max_len", "batch_size", "epochs", "patience", "eval_every"):
            if getattr(self, name) < 1:
                raise ChronorecError(f"training option {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ChronorecError(f"training option lr must be > 0, got {self.lr}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ChronorecError(f"unknown lr_schedule '{self.lr_schedule}' (choose constant or cosine)")
        if self.loss not in ("full", "sampled"):
            raise ChronorecError(f"unknown loss '{self.loss}' (choose full or sampled)")
        if self.negative_sampler not in ("uniform", "popularity"):
            raise ChronorecError(f"unknown negative sampler '{self.negative_sampler}' (choose uniform or popularity)")
        if self.split not in ("loo", "temporal"):
            raise ChronorecError(f"unknown split '{self.split}' (choose loo or temporal)")
        from chronorec.models import model_config  # models import torch: only when validating

        model_config(self.model, self.model_params)
        return self

    def to_toml(self) -> str:
        return tomli_w.dumps(dataclasses.asdict(self))

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_toml())

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "TrainConfig":
        check_fields(cls, values, source, "training")
        return cls(**values).validate()

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(read_toml(path), source=str(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a one-line :class:`ChronorecError`."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ChronorecError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ChronorecError(f"{path}: invalid TOML: {err}") from None


def check_fields(cls: type, values: dict[str, Any], source: str, what: str) -> None:
    """Refuse keys that are not fields of dataclass ``cls`` (a typo must not be silently ignored)."""
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ChronorecError(f"{source}: unknown {what} option(s) {', '.join(sorted(unknown))}")
