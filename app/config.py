"""Settings, read from the environment (prefix ``POLICYFACTS_``) or a ``.env`` file."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYFACTS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./policyfacts.db",
        description="SQLAlchemy URL; postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    auto_migrate: bool = Field(
        default=True,
        description="`policyfacts serve` migrates, and seeds an empty database, before it starts.",
    )
    cache_max_age: int = Field(default=60, ge=0, description="max-age of Cache-Control on GETs.")
    cursor_secret: str = Field(
        default="policyfacts-cursors",
        description="Key that signs pagination cursors; the same on every instance.",
    )
    db_pool_size: int = Field(default=5, ge=1, description="Connections per worker (PostgreSQL).")
