"""The ``serve`` command: the HTTP service over a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunDir = Annotated[Path, typer.Argument(help="Run folder from `chronorec train`.")]
Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="Port.")]
Db = Annotated[
    str | None,
    typer.Option(
        help="SQLite file or postgresql:// URL for posted events (default RUN_DIR/events.sqlite)."
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        envvar="CHRONOREC_API_KEY",
        help="Key for writes and reads (X-API-Key header). A command-line value is visible to "
        "other users (ps): prefer the environment variable or --api-key-file.",
    ),
]
ApiKeyFile = Annotated[Path | None, typer.Option(help="A file holding the API key (one line).")]
ReadKeyFile = Annotated[
    Path | None,
    typer.Option(help="A file holding a key for reads only (or $CHRONOREC_READ_KEY)."),
]
OpenRecommendations = Annotated[
    bool,
    typer.Option(help="Recommendations need no key (a user's posted events still do)."),
]

KafkaBootstrap = Annotated[
    str | None,
    typer.Option(help="HOST:PORT of Kafka brokers: also consume events from --kafka-topic."),
]
KafkaTopic = Annotated[
    str | None,
    typer.Option(help="Kafka topic of events, each message one JSON event as POST /v1/events."),
]
KafkaGroup = Annotated[str, typer.Option(help="Kafka consumer group.")]
KafkaDeadLetter = Annotated[
    str | None, typer.Option(help="Kafka topic that receives messages that are not events.")
]


def serve(
    run_dir: RunDir,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    db: Db = None,
    api_key: ApiKey = None,
    api_key_file: ApiKeyFile = None,
    read_key_file: ReadKeyFile = None,
    open_recommendations: OpenRecommendations = False,
    kafka_bootstrap: KafkaBootstrap = None,
    kafka_topic: KafkaTopic = None,
    kafka_group: KafkaGroup = "chronorec",
    kafka_dead_letter: KafkaDeadLetter = None,
) -> None:
    """Serve recommendations over HTTP; posted events change them at once (OpenAPI docs at
    /docs)."""
    # Deferred: the service's modules are an optional extra (`pip install 'chronorec[serve]'`).
    from chronorec.serve.command import kafka_settings
    from chronorec.serve.command import serve as run_service

    run_service(
        run_dir,
        host,
        port,
        db,
        api_key,
        api_key_file=api_key_file,
        read_key_file=read_key_file,
        open_recommendations=open_recommendations,
        kafka=kafka_settings(kafka_bootstrap, kafka_topic, kafka_group, kafka_dead_letter),
    )
