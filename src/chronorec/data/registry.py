"""Known public datasets (see :mod:`chronorec.data.catalog`): find, download and prepare them.

A local copy is looked for under a data root (``data_root=`` or ``$CHRONOREC_DATA``) at each
dataset's ``local_subpath``. Downloads go under ``dest`` with the same relative layout, so a
download folder can later serve as a data root too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chronorec._io import atomic_path
from chronorec.data.catalog import DATASETS, Dataset
from chronorec.data.prepare import PrepareConfig, PrepareResult, prepare
from chronorec.errors import ChronorecError

DATA_ENV = "CHRONOREC_DATA"
CACHE_ENV = "CHRONOREC_CACHE"


def list_datasets() -> list[Dataset]:
    """Known datasets, sorted by name."""
    return [DATASETS[k] for k in sorted(DATASETS)]


def get_dataset(name: str) -> Dataset:
    """The registry entry for ``name``; ChronorecError listing the known names if there is none."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ChronorecError(
            f"unknown dataset '{name}'; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None


def default_data_root() -> Path | None:
    """``$CHRONOREC_DATA`` as a path, or None when it is not set."""
    root = os.environ.get(DATA_ENV)
    return Path(root) if root else None


def find_local(name: str | Dataset, data_root: str | os.PathLike[str] | None = None) -> Path | None:
    """The local interaction file of a dataset under ``data_root`` (default ``$CHRONOREC_DATA``).

    None unless every file of the dataset (interactions, items, times) is there.
    """
    ds = name if isinstance(name, Dataset) else get_dataset(name)
    root = Path(data_root) if data_root is not None else default_data_root()
    if root is None or not all((root / sub).is_file() for sub in _roles(ds).values()):
        return None
    return root / ds.local_subpath


def default_cache_dir() -> Path:
    """Where :func:`prepare_known` downloads to: ``$CHRONOREC_CACHE`` or ``~/.cache/chronorec``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "chronorec")


# --------------------------------------------------------------------------- download


def _urlopen(url: str) -> Any:
    """Open ``url`` for reading (a seam so tests can substitute a fake)."""
    # Only URLs from the catalog are opened, never one a user typed.
    return urllib.request.urlopen(url, timeout=60)


def download_file(
    url: str, target: Path, *, sha256: str | None = None, quiet: bool = False
) -> Path:
    """Download ``url`` to ``target`` atomically, with a progress bar, checking ``sha256``."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    h = hashlib.sha256()
    with atomic_path(target) as tmp, _urlopen(url) as resp, open(tmp, "wb") as out:
        size = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
        )
        with Progress(*columns, transient=True, disable=quiet) as bar:
            task = bar.add_task(target.name, total=int(size) if size else None)
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                out.write(chunk)
                h.update(chunk)
                bar.advance(task, len(chunk))
        out.flush()
        if sha256 is not None and h.hexdigest() != sha256.lower():
            raise ChronorecError(
                f"{url}: sha256 mismatch (expected {sha256}, got {h.hexdigest()}); "
                "download discarded"
            )
    return target


def _extract(archive: Path, member: str, target: Path) -> Path:
    """Copy one member of a zip archive to ``target`` atomically."""
    try:
        with (
            zipfile.ZipFile(archive) as zf,
            zf.open(member) as src,
            atomic_path(target) as tmp,
            open(tmp, "wb") as dst,
        ):
            shutil.copyfileobj(src, dst)
    except KeyError:
        raise ChronorecError(f"{archive}: has no member '{member}'") from None
    except zipfile.BadZipFile as e:
        raise ChronorecError(f"{archive}: not a valid zip archive ({e})") from None
    return target


def _roles(ds: Dataset) -> dict[str, str]:
    roles = {"interactions": ds.local_subpath}
    if ds.items_subpath:
        roles["items"] = ds.items_subpath
    if ds.times_subpath:
        roles["times"] = ds.times_subpath
    return roles


def _download_all(ds: Dataset, dest: Path, quiet: bool) -> None:
    """Fetch whatever of ``ds`` is not yet under ``dest``."""
    roles = _roles(ds)
    missing = {role: sub for role, sub in roles.items() if not (dest / sub).is_file()}
    if not missing:
        return
    if ds.member is not None:  # an archive with the interactions (and items) inside
        archive = dest / ds.name / Path(ds.download_url.rsplit("/", 1)[-1])
        if not archive.is_file():
            download_file(ds.download_url, archive, sha256=ds.sha256, quiet=quiet)
        members = {"interactions": ds.member, "items": ds.items_member}
        for role, sub in missing.items():
            member = members.get(role)
            if member:
                _extract(archive, member, dest / sub)
    elif "interactions" in missing:
        download_file(ds.download_url, dest / ds.local_subpath, sha256=ds.sha256, quiet=quiet)
    if "times" in missing and ds.times_url and ds.times_subpath:
        download_file(ds.times_url, dest / ds.times_subpath, sha256=ds.times_sha256, quiet=quiet)


def fetch_files(
    name: str | Dataset,
    dest: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    download: bool = True,
    quiet: bool = False,
) -> dict[str, Path]:
    """Locate or download every file of a dataset: ``{"interactions": path, "items": ...}``.

    Looks under ``data_root`` (default ``$CHRONOREC_DATA``), then under ``dest``; downloads into
    ``dest`` (same relative layout) only if neither holds all files.

    Raises:
        ChronorecError: unknown name, not found with ``download=False``, or a failed download.
    """
    ds = name if isinstance(name, Dataset) else get_dataset(name)
    roles = _roles(ds)
    root = Path(data_root) if data_root is not None else default_data_root()
    dest = Path(dest)
    for base in (root, dest):
        if base is not None and all((base / sub).is_file() for sub in roles.values()):
            return {role: base / sub for role, sub in roles.items()}
    if not download:
        where = " or ".join(str(b) for b in (root, dest) if b is not None)
        raise ChronorecError(
            f"dataset '{ds.name}' not found under {where} (expected {ds.local_subpath}); "
            f"download it from {ds.home_page}, set ${DATA_ENV}, or allow downloading"
        )
    _download_all(ds, dest, quiet)
    return {role: dest / sub for role, sub in roles.items()}


def fetch(
    name: str | Dataset,
    dest: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Path:
    """Path of the dataset's interaction file: a local copy if any, else downloaded into ``dest``.

    See :func:`fetch_files` for the search order; companion files (items, times) are fetched too.
    """
    return fetch_files(name, dest, data_root=data_root, download=download)["interactions"]


def prepare_config(
    name: str | Dataset, files: Mapping[str, Path], out: str | os.PathLike[str], **overrides: Any
) -> PrepareConfig:
    """The :class:`~chronorec.data.prepare.PrepareConfig` for a dataset with these ``files``."""
    ds = name if isinstance(name, Dataset) else get_dataset(name)
    kwargs: dict[str, Any] = {"format": ds.format, **ds.options}
    if "items" in files:
        kwargs["items"] = files["items"]
    if "times" in files:
        kwargs["times"] = files["times"]
    kwargs.update(overrides)
    return PrepareConfig(input=files["interactions"], out=Path(out), **kwargs)


def prepare_known(
    name: str | Dataset,
    out: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    *,
    dest: str | os.PathLike[str] | None = None,
    download: bool = True,
    **overrides: Any,
) -> PrepareResult:
    """Fetch a known dataset (see :func:`fetch_files`) and prepare it into ``out``.

    Uses the catalog's options for the dataset. ``dest`` is where downloads go (default
    :func:`default_cache_dir`); ``overrides`` are further PrepareConfig fields (``user_core=5``).
    """
    files = fetch_files(name, dest or default_cache_dir(), data_root=data_root, download=download)
    return prepare(prepare_config(name, files, out, **overrides))
