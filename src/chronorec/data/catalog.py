"""The known public datasets: where each is published, its licence, its files and prepare options.

These datasets are third-party research data under their own terms (see each ``licence``); chronorec
only points at them. :mod:`chronorec.data.registry` finds, downloads and prepares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class _ReadOnlyDict(dict):  # type: ignore[type-arg]
    """A dict that refuses changes, so catalog entries stay as declared (and asdict still works)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("registry options are read-only; use dataclasses.replace")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]


@dataclass(frozen=True)
class Dataset:
    """One known dataset.

    Attributes:
        name: registry key.
        description: one line for listings.
        home_page: where the dataset is described.
        download_url: a zip archive or a plain file.
        local_subpath: the interaction file, relative to a data root.
        format: prepare's ``format``.
        options: further :class:`~chronorec.data.prepare.PrepareConfig` fields (column names, ...).
        licence: terms of use, in short.
        member: the interaction file inside the archive (None: ``download_url`` is the file).
        sha256: of the downloaded file (archive or plain), checked when known.
        items_subpath, items_member: item metadata file, locally and inside the archive.
        times_subpath, times_url, times_sha256: a separate timestamps file (``sequences`` format).
    """

    name: str
    description: str
    home_page: str
    download_url: str
    local_subpath: str
    format: str
    licence: str
    options: Mapping[str, Any] = field(default_factory=lambda: _ReadOnlyDict(), hash=False)
    member: str | None = None
    sha256: str | None = None
    items_subpath: str | None = None
    items_member: str | None = None
    times_subpath: str | None = None
    times_url: str | None = None
    times_sha256: str | None = None


_GROUPLENS_LICENCE = (
    "GroupLens research licence: non-commercial research use, cite Harper & Konstan 2015, "
    "no redistribution without permission"
)
_AMAZON_LICENCE = "Amazon review data (McAuley et al., UCSD): research use only, no redistribution"
_YELP_LICENCE = "Yelp Dataset Terms of Use: non-commercial academic use, no redistribution"
_TIANCHI_LICENCE = "Alibaba Tianchi data: research use only, no redistribution"
_S3REC = (
    "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/"
    "2a81540ae18615d88ef88227b0c066e5b74781e5/data"
)
_TICOSEREC = (
    "https://raw.githubusercontent.com/KingGugu/TiCoSeRec/"
    "302b2959f27bb16bb77acae5a471de82819bd1bd/data"
)
_AMAZON_HOME = "https://jmcauley.ucsd.edu/data/amazon/"


def _opts(**kw: Any) -> Mapping[str, Any]:
    return _ReadOnlyDict(kw)


_ENTRIES: tuple[Dataset, ...] = (
    Dataset(
        name="ml-100k",
        description=(
            "MovieLens 100K: 100,000 ratings (1-5) by 943 users on 1,682 movies, with titles and "
            "genres"
        ),
        home_page="https://grouplens.org/datasets/movielens/100k/",
        download_url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        member="ml-100k/u.data",
        local_subpath="ml-100k/original/u.data",
        items_member="ml-100k/u.item",
        items_subpath="ml-100k/original/u.item",
        format="movielens",
        licence=_GROUPLENS_LICENCE,
    ),
    Dataset(
        name="ml-1m",
        description=(
            "MovieLens 1M: 1,000,209 ratings by 6,040 users on 3,706 movies, with titles and genres"
        ),
        home_page="https://grouplens.org/datasets/movielens/1m/",
        download_url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        member="ml-1m/ratings.dat",
        local_subpath="ml-1m/ratings.dat",
        items_member="ml-1m/movies.dat",
        items_subpath="ml-1m/movies.dat",
        format="movielens",
        licence=_GROUPLENS_LICENCE,
    ),
    Dataset(
        name="amazon-beauty",
        description=(
            "Amazon Beauty 5-core as preprocessed by S3Rec: 22,363 users, 12,101 items, 198,502 "
            "events in order, no timestamps"
        ),
        home_page=_AMAZON_HOME,
        download_url=f"{_S3REC}/Beauty.txt",
        sha256="226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
        local_subpath="amazon-beauty/s3rec/Beauty.txt",
        format="sequences",
        licence=_AMAZON_LICENCE,
    ),
    Dataset(
        name="amazon-beauty-timed",
        description=(
            "Amazon Beauty 5-core with day-resolution timestamps (TiCoSeRec item and time files)"
        ),
        home_page=_AMAZON_HOME,
        download_url=f"{_TICOSEREC}/Beauty/Beauty_item_org_rank.txt",
        sha256="b95614189df525e1eb69dad579e84c6086468f2bb42dab894038949240307c4f",
        local_subpath="amazon-beauty/ticoserec/Beauty_item_org_rank.txt",
        times_url=f"{_TICOSEREC}/Beauty/Beauty_time_org_rank.txt",
        times_sha256="4e6a6e30f9dba1985ad9adae79a891df6b403e2132f0422a6f6e88f67d1fcc75",
        times_subpath="amazon-beauty/ticoserec/Beauty_time_org_rank.txt",
        format="sequences",
        licence=_AMAZON_LICENCE,
    ),
    Dataset(
        name="amazon-toys",
        description=(
            "Amazon Toys and Games 5-core (S3Rec): 19,412 users, 11,924 items, no timestamps"
        ),
        home_page=_AMAZON_HOME,
        download_url=f"{_S3REC}/Toys_and_Games.txt",
        sha256="176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
        local_subpath="amazon-toys/s3rec/Toys_and_Games.txt",
        format="sequences",
        licence=_AMAZON_LICENCE,
    ),
    Dataset(
        name="amazon-video-games",
        description=(
            "Amazon Video Games (SASRec): 31,013 users, 23,715 items, `user item` per line in order"
        ),
        home_page=_AMAZON_HOME,
        download_url=(
            "https://raw.githubusercontent.com/kang205/SASRec/"
            "e3738967fddab206d6eeb4fda433e7a7034dd8b1/data/Video.txt"
        ),
        sha256="b7376fe24430743f411dc7f567285657b2adb3f74361cc7ba0aee94f3024b651",
        local_subpath="amazon-video-games/sasrec/Video.txt",
        format="sequences",
        licence=_AMAZON_LICENCE,
    ),
    Dataset(
        name="amazon-grocery",
        description=(
            "Amazon Grocery 5-core training part (ReChorus): 14,681 users, 8,687 items, day "
            "timestamps; each user's last two events are not included"
        ),
        home_page=_AMAZON_HOME,
        download_url=(
            "https://raw.githubusercontent.com/THUwangcy/ReChorus/"
            "e58d752558634d42be60de561d6f74df748583cc/data/Grocery_and_Gourmet_Food/train.csv"
        ),
        sha256="75847958fbcfec35dd0a20bda43432c22a5d7e5b5fe571fef0b25ff580b475f4",
        local_subpath="amazon-grocery/rechorus/train.csv",
        format="csv",
        options=_opts(delimiter="\t", time_col="time"),
        licence=_AMAZON_LICENCE,
    ),
    Dataset(
        name="yelp",
        description=(
            "Yelp 2019 interactions (S3Rec): 30,431 users, 20,033 businesses, no timestamps"
        ),
        home_page="https://www.yelp.com/dataset",
        download_url=f"{_S3REC}/Yelp.txt",
        sha256="724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
        local_subpath="yelp/s3rec/Yelp.txt",
        format="sequences",
        licence=_YELP_LICENCE,
    ),
    Dataset(
        name="yelp-timed",
        description=(
            "Yelp 2019 interactions with second timestamps (TiCoSeRec Yelp-A, 2020 release)"
        ),
        home_page="https://www.yelp.com/dataset",
        download_url=f"{_TICOSEREC}/Yelp-A/Yelp_item_org_rank.txt",
        sha256="c192f158659e118070bf0cd2dfe4c01c15295a09ef2ada1ccadf0bab06e4c19e",
        local_subpath="yelp/ticoserec-yelp2020/Yelp_item_org_rank.txt",
        times_url=f"{_TICOSEREC}/Yelp-A/Yelp_time_org_rank.txt",
        times_sha256="79b0f02a3dcbbc8799fe79725ccbba55735212e81247f7595385cb359fd95de0",
        times_subpath="yelp/ticoserec-yelp2020/Yelp_time_org_rank.txt",
        format="sequences",
        licence=_YELP_LICENCE,
    ),
    Dataset(
        name="yoochoose-clicks-100k",
        description=(
            "RecSys Challenge 2015 clicks, 100k sample (session-rec train_full): sessions as users"
        ),
        home_page="https://recsys.acm.org/recsys15/challenge/",
        download_url=(
            "https://raw.githubusercontent.com/rn5l/session-rec/"
            "5dcd583cbd8d44703a5248b9a308945f24b91390/data/rsc15/prepared/"
            "yoochoose-clicks-100k_train_full.txt"
        ),
        sha256="9842c90358298ee784fcf0c9dccb2eeb283ab04368e53bdeee896747f4c03e1e",
        local_subpath="yoochoose-clicks-100k/yoochoose-clicks-100k_train_full.txt",
        format="tsv",
        options=_opts(user_col="SessionId", item_col="ItemId", time_col="Time"),
        licence="RecSys Challenge 2015 (YOOCHOOSE) data: research use only",
    ),
    Dataset(
        name="diginetica-sample",
        description=(
            "CIKM Cup 2016 (DIGINETICA) item views, SR-GNN sample: sessions as users; timestamps "
            "are days, so repeat views of an item on one day count as duplicates"
        ),
        home_page="https://competitions.codalab.org/competitions/11161",
        download_url=(
            "https://raw.githubusercontent.com/CRIPAC-DIG/SR-GNN/"
            "e21cfa431f74c25ae6e4ae9261deefe11d1cb488/datasets/sample_train-item-views.csv"
        ),
        sha256="98da96e05c87ef12b739e4bfd9bc7b4864106ee77371f1db9eb4413e3f78d37e",
        local_subpath="diginetica-sample/sample_train-item-views.csv",
        format="csv",
        options=_opts(delimiter=";", user_col="session_id", time_col="eventdate"),
        licence="CIKM Cup 2016 data: research use only",
    ),
    Dataset(
        name="taobao-userbehavior-sample",
        description="Taobao UserBehavior head (84k events, 815 users) with pv/cart/fav/buy events",
        home_page="https://tianchi.aliyun.com/dataset/649",
        download_url=(
            "https://raw.githubusercontent.com/Haohanblue/mydeep/"
            "ef812addc2c164f1d3ef48564a5c393ec293bc61/mydeep/UserBehavior.csv"
        ),
        sha256="9cbce278d485d50954029082dd1b22f0dc78dc38776f58d953f0cbe18d6608b4",
        local_subpath="taobao-userbehavior-sample/UserBehavior.csv",
        format="csv",
        options=_opts(
            columns=("user_id", "item_id", "category_id", "behavior_type", "timestamp"),
            event_col="behavior_type",
        ),
        licence=_TIANCHI_LICENCE,
    ),
    Dataset(
        name="tianchi-mobile-sample",
        description=(
            "Tianchi mobile recommendation sample (1,999 events, 34 users), click/fav/cart/buy, "
            "hour timestamps"
        ),
        home_page="https://github.com/qichen2020/customer-conversion-funnel-analysis",
        download_url=(
            "https://raw.githubusercontent.com/qichen2020/customer-conversion-funnel-analysis/"
            "ea10b9376b0c5ce78622fd0f890cca1cbce7dc34/sample_user_behavior.csv"
        ),
        sha256="243df824ed0a99f0bd573ea4f0a7c0948c288d115a77d5e88668aaa88e4ee6ba",
        local_subpath="tianchi-mobile-sample/sample_user_behavior.csv",
        format="csv",
        options=_opts(event_col="behavior_type", time_col="time"),
        licence=_TIANCHI_LICENCE,
    ),
)

DATASETS: Mapping[str, Dataset] = MappingProxyType({d.name: d for d in _ENTRIES})
"""All known datasets by name."""
