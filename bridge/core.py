"""The composition root's building blocks: one `Core` per process wires settings to storage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from bridge.inbox import DatabaseInbox
from bridge.pipeline.parsepool import ParsePool
from bridge.pipeline.pipeline import Pipeline
from bridge.pipeline.sender_trust import SenderChecker
from bridge.settings import Settings
from threads.db import make_engine, migrate


@dataclass
class Core:
    settings: Settings
    engine: Engine
    pipeline: Pipeline
    inbox: DatabaseInbox

    def close(self) -> None:
        self.pipeline.close()
        self.engine.dispose()


def open_core(settings: Settings) -> Core:
    """Engine, schema brought up to date, and the pipeline; used by every command."""
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    config = settings.pipeline
    parser = ParsePool(workers=config.parse_workers, timeout=config.parse_timeout)
    pipeline = Pipeline(engine, config, SenderChecker(settings.sender_trust), parser)
    return Core(settings, engine, pipeline, DatabaseInbox(engine))
