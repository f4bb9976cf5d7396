"""Registry: entries, lookup through CHRONOREC_DATA, downloads from file:// URLs, prepare_known."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import polars as pl
import pytest

from chronorec.data import registry, schema
from chronorec.data.catalog import Dataset
from chronorec.data.formats import FORMATS
from chronorec.errors import ChronorecError

U_DATA = "1\t10\t5\t881250949\n2\t10\t3\t881250950\n1\t20\t4\t881250951\n"
U_ITEM = (
    "10|Ten (1995)|||u|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "20|Twenty (1995)|||u|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Only file:// URLs may be opened in these tests."""
    real = registry._urlopen

    def guarded(url: str):
        assert url.startswith("file://"), f"network access attempted: {url}"
        return real(url)

    monkeypatch.setattr(registry, "_urlopen", guarded)


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fake_ml100k(tmp_path: Path, **changes) -> Dataset:
    (tmp_path / "srv").mkdir(exist_ok=True)
    archive = _zip(
        tmp_path / "srv" / "ml-100k.zip", {"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM}
    )
    ds = dataclasses.replace(
        registry.get_dataset("ml-100k"), download_url=archive.as_uri(), sha256=_sha(archive)
    )
    return dataclasses.replace(ds, **changes)


def test_entries_are_complete():
    names = [d.name for d in registry.list_datasets()]
    assert names == sorted(names)
    assert {"ml-100k", "ml-1m", "amazon-beauty"} <= set(names)
    for d in registry.list_datasets():
        assert d.home_page.startswith("https://") and d.download_url.startswith("https://")
        assert d.licence and d.description
        assert d.format in FORMATS
        assert not Path(d.local_subpath).is_absolute() and ".." not in Path(d.local_subpath).parts
        assert (d.times_url is None) == (d.times_subpath is None)
        assert d.sha256 is None or len(d.sha256) == 64
    ml = registry.get_dataset("ml-100k")
    assert (ml.member, ml.items_member, ml.local_subpath) == (
        "ml-100k/u.data",
        "ml-100k/u.item",
        "ml-100k/original/u.data",
    )


def test_unknown_name_lists_known_names():
    with pytest.raises(
        ChronorecError, match=r"unknown dataset 'ml-20m'; known datasets: .*amazon-beauty.*ml-100k"
    ):
        registry.fetch("ml-20m", "dest")


def test_fetch_finds_local_copy_via_env(tmp_path, monkeypatch):
    root = tmp_path / "shared"
    for sub, text in (("ml-100k/original/u.data", U_DATA), ("ml-100k/original/u.item", U_ITEM)):
        (root / sub).parent.mkdir(parents=True, exist_ok=True)
        (root / sub).write_text(text)
    monkeypatch.setenv(registry.DATA_ENV, str(root))
    dest = tmp_path / "dest"
    assert registry.fetch("ml-100k", dest, download=False) == root / "ml-100k/original/u.data"
    assert registry.find_local("ml-100k") == root / "ml-100k/original/u.data"
    assert registry.fetch_files("ml-100k", dest)["items"] == root / "ml-100k/original/u.item"
    assert not dest.exists()  # nothing downloaded
    # An explicit data_root wins over the environment.
    with pytest.raises(ChronorecError, match="not found under"):
        registry.fetch("ml-100k", dest, data_root=tmp_path / "elsewhere", download=False)


def test_fetch_finds_the_real_shared_data(data_root):
    for d in registry.list_datasets():
        local = registry.find_local(d, data_root)
        if d.name == "ml-1m":
            continue  # not in the shared folder
        assert local is not None and local.is_file(), d.name
        if d.sha256 and d.member is None:  # the local copy is the very file the URL serves
            assert _sha(local) == d.sha256, d.name


def test_download_zip_extracts_members_and_is_reused(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    ds = _fake_ml100k(tmp_path)
    dest = tmp_path / "dest"
    files = registry.fetch_files(ds, dest, quiet=True)
    assert files == {
        "interactions": dest / "ml-100k/original/u.data",
        "items": dest / "ml-100k/original/u.item",
    }
    assert files["interactions"].read_text() == U_DATA and files["items"].read_text() == U_ITEM
    assert (dest / "ml-100k" / "ml-100k.zip").is_file()
    monkeypatch.setattr(registry, "_urlopen", lambda url: pytest.fail("downloaded again"))
    assert registry.fetch(ds, dest) == files["interactions"]
    # Leftovers of atomic writes would start with a dot.
    assert not [p for p in dest.rglob(".*")]


def test_download_checks_sha256_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    ds = _fake_ml100k(tmp_path, sha256="0" * 64)
    dest = tmp_path / "dest"
    with pytest.raises(ChronorecError, match="sha256 mismatch"):
        registry.fetch(ds, dest)
    assert [p for p in dest.rglob("*") if p.is_file()] == []


def test_download_plain_files_with_times_through_a_fake_opener(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    served = {
        "https://example.org/items.txt": b"u1 a b\nu2 c\n",
        "https://example.org/times.txt": b"u1 5 6\nu2 7\n",
    }
    opened = []

    class Response(io.BytesIO):
        headers = {}

    def fake_urlopen(url):
        opened.append(url)
        return Response(served[url])

    monkeypatch.setattr(registry, "_urlopen", fake_urlopen)
    ds = Dataset(
        name="toy", description="toy", home_page="https://example.org", licence="none",
        download_url="https://example.org/items.txt", local_subpath="toy/items.txt",
        times_url="https://example.org/times.txt", times_subpath="toy/times.txt",
        times_sha256=hashlib.sha256(served["https://example.org/times.txt"]).hexdigest(),
        format="sequences",
    )  # fmt: skip
    result = registry.prepare_known(ds, tmp_path / "out", dest=tmp_path / "dest")
    assert opened == ["https://example.org/items.txt", "https://example.org/times.txt"]
    assert (result.interactions, result.users, result.items) == (3, 2, 3)
    inter = pl.read_parquet(tmp_path / "out" / schema.INTERACTIONS_FILE)
    assert inter["timestamp"].to_list() == [5, 6, 7]


def test_fetch_without_download_reports_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    with pytest.raises(ChronorecError, match=r"dataset 'ml-1m' not found under .*dest.*grouplens"):
        registry.fetch("ml-1m", tmp_path / "dest", download=False)


def test_prepare_known_from_downloaded_archive(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    ds = _fake_ml100k(tmp_path)
    result = registry.prepare_known(ds, tmp_path / "out", dest=tmp_path / "dest", item_core=2)
    assert (result.interactions, result.users, result.items) == (2, 2, 1)
    items = pl.read_parquet(tmp_path / "out" / schema.ITEMS_FILE)
    assert items.rows() == [(1, "10", "Ten (1995)", "Animation")]


def test_prepare_known_ml100k_from_shared_data(data_root, tmp_path):
    result = registry.prepare_known("ml-100k", tmp_path / "out", data_root, download=False)
    assert (result.interactions, result.users, result.items) == (100_000, 943, 1_682)
    items = pl.read_parquet(tmp_path / "out" / schema.ITEMS_FILE)
    assert items["title"].null_count() == 0 and items["categories"].null_count() == 0


def test_prepare_known_multi_behaviour_sample(data_root, tmp_path):
    result = registry.prepare_known(
        "taobao-userbehavior-sample", tmp_path / "out", data_root, download=False
    )
    assert (result.interactions, result.users, result.items) == (84_475, 815, 55_368)
    assert result.dropped["missing_value"] == 1  # the truncated last line
    manifest = (tmp_path / "out" / schema.MANIFEST_FILE).read_text()
    assert '"buy",\n    "cart",\n    "fav",\n    "pv"' in manifest
