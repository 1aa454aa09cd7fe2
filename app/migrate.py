"""Running the Alembic migrations from the service and the command line."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _script_location() -> str:
    # Installed, the migrations ship inside the package; in a checkout they sit beside it.
    packaged = Path(__file__).parent / "migrations"
    if packaged.is_dir():
        return str(packaged)
    return str(Path(__file__).parent.parent / "migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", _script_location())
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations have no head"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
