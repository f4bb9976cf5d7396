"""Every training option in one frozen dataclass, saved with each run as TOML and loadable back."""

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
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CHOICES = {  # option: (its name in errors, its values)
    "lr_schedule": ("lr_schedule", ("constant", "cosine")),
    "loss": ("loss", ("full", "sampled")),
    "negative_sampler": ("negative sampler", ("uniform", "popularity")),
    "sampled_objective": ("sampled objective", ("softmax", "gbce")),
    "split": ("split", ("loo", "temporal", "recent")),
}
AT_LEAST_ONE = ("max_len", "batch_size", "epochs", "patience", "eval_every")


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model on one prepared dataset.

    ``model_params`` holds the model's own settings as written in TOML (fields of its config
    dataclass, e.g. ``dim``); :meth:`model_settings` gives them as that frozen dataclass. Change a
    config with :meth:`with_overrides` (or :func:`dataclasses.replace`): it is never mutated.
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
    # full | sampled (softmax over the target and sampled negatives, log-Q corrected)
    loss: str = "full"
    negatives: int = 256  # sampled negatives per batch for loss = sampled
    negative_sampler: str = "uniform"  # uniform | popularity
    in_batch_negatives: bool = True  # loss = sampled also uses the other rows' targets
    # loss = sampled: each target draws its own `negatives` uniform negatives, without log-Q or
    # in-batch negatives (as eSASRec trains); gbce always draws this way.
    negatives_per_target: bool = False
    sampled_objective: str = "softmax"  # softmax | gbce (generalised BCE, calibrated by gbce_t)
    gbce_t: float = 0.75  # gbce's calibration: 0 is plain BCE, 1 fully corrects the sampling
    text_features: bool = False  # add language-model vectors of item titles/categories to items
    # A run folder (e.g. from `chronorec pretrain`) whose matching weights start this model.
    init: str = ""
    # A run folder whose model this one continues (``chronorec refresh``): every weight carried
    # over, item tables grown to this dataset's catalogue, whose first items must be the run's.
    warm_start: str = ""
    # > 0: train on the windows that reach the dataset's new events (a refresh's; `new_from` in
    # its manifest) plus this many times as many older windows drawn at random; 0: every window.
    old_per_new: float = 0.0
    # < 1: after a warm start, each weight moves this share of the way back toward a fresh
    # initialisation ("shrink and perturb", Ash & Adams 2020): a model continued from a converged
    # one generalises worse than one trained afresh, and this restores the plasticity it lost.
    warm_shrink: float = 1.0

    def validate(self) -> TrainConfig:
        """This config when every option is valid; else a one-line :class:`ChronorecError`."""
        for name in AT_LEAST_ONE:
            value = getattr(self, name)
            if value < 1:
                raise ChronorecError(f"training option {name} must be >= 1, got {value}")
        if not 0.0 <= self.gbce_t <= 1.0:
            raise ChronorecError(f"training option gbce_t must be in [0, 1], got {self.gbce_t}")
        if self.old_per_new < 0:
            raise ChronorecError(
                f"training option old_per_new must be >= 0, got {self.old_per_new}"
            )
        if not 0.0 < self.warm_shrink <= 1.0:
            raise ChronorecError(
                f"training option warm_shrink must be in (0, 1], got {self.warm_shrink}"
            )
        if self.lr <= 0:
            raise ChronorecError(f"training option lr must be > 0, got {self.lr}")
        for name, (label, choices) in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ChronorecError(
                    f"unknown {label} '{getattr(self, name)}' (choose {' or '.join(choices)})"
                )
        self.model_settings()
        return self

    def model_settings(self) -> Any:
        """The model's settings as its frozen config dataclass (an unknown key is a clear error)."""
        from chronorec.models import model_config  # models import torch: only when asked

        return model_config(self.model, self.model_params)

    def with_overrides(self, **changes: Any) -> TrainConfig:
        """A validated copy with ``changes`` applied; an unknown option is a clear error."""
        check_fields(type(self), changes, "overrides", "training")
        return dataclasses.replace(self, **changes).validate()

    def to_toml(self) -> str:
        return tomli_w.dumps(dataclasses.asdict(self))

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_toml())

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """A validated config from a dict of options (e.g. a parsed TOML file)."""
        check_fields(cls, values, source, "training")
        return cls(**values).validate()

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """The config saved in the TOML file at ``path``."""
        return cls.from_dict(read_toml(path), source=str(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a one-line :class:`ChronorecError`."""
    try:
        values: dict[str, Any] = tomllib.loads(Path(path).read_text())
        return values
    except FileNotFoundError:
        raise ChronorecError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ChronorecError(f"{path}: invalid TOML: {err}") from None


def check_fields(cls: type, values: dict[str, Any], source: str, what: str) -> None:
    """Refuse keys that are not fields of dataclass ``cls``: a typo must not be silently ignored."""
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ChronorecError(f"{source}: unknown {what} option(s) {', '.join(sorted(unknown))}")
