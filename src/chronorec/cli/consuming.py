"""The ``consume`` command: events from a Kafka topic into an event store, in a process alone."""

from __future__ import annotations

from typing import Annotated

import typer

from chronorec.cli.serving import KafkaDeadLetter, KafkaGroup

Db = Annotated[
    str, typer.Option(help="SQLite file or postgresql:// URL: the store the services share.")
]
Bootstrap = Annotated[str, typer.Option(help="HOST:PORT of Kafka brokers.")]
Topic = Annotated[
    str, typer.Option(help="Kafka topic of events, each message one JSON event as POST /v1/events.")
]


def consume(
    db: Db,
    kafka_bootstrap: Bootstrap,
    kafka_topic: Topic,
    kafka_group: KafkaGroup = "chronorec",
    kafka_dead_letter: KafkaDeadLetter = None,
) -> None:
    """Store a Kafka topic's events in an event store until interrupted (the services sharing the
    store see them at once); `chronorec serve --kafka-bootstrap` does the same in the service."""
    # Deferred: the consumer needs the serve and kafka extras.
    from chronorec.serve.command import kafka_settings
    from chronorec.serve.kafka import consume_into_store

    settings = kafka_settings(kafka_bootstrap, kafka_topic, kafka_group, kafka_dead_letter)
    assert settings is not None  # both options are required
    consume_into_store(db, settings)
