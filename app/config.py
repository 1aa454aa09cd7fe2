"""Settings, read from the environment (prefix ``POLICYFACTS_``) or a ``.env`` file."""

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    cursor_secret: str | None = Field(
        default=None,
        min_length=1,
        description="Key that signs pagination cursors; if unset, one made at random and kept "
        "in the database, which every instance on it shares.",
    )
    db_pool_size: int = Field(default=5, ge=1, description="Connections per worker (PostgreSQL).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["*"],
        description="Origins whose scripts may call the API (JSON list, or comma-separated). "
        "Every origin by default: keys travel in a header, never in cookies.",
    )
    response_cache: bool = Field(
        default=True,
        description="Answer repeated GETs from memory while the data is unchanged.",
    )
    cache_bytes: int = Field(
        default=32 * 1024 * 1024, ge=0, description="Memory for cached answers, per process."
    )
    cache_poll_seconds: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="How often a process reads the data version: other processes' writes "
        "are served within this many seconds.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Addresses or networks of the proxies in front whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (JSON list, or comma-separated); none by default.",
    )
    fast_path: bool = Field(
        default=True,
        description="Take the routing and SQL shortcuts past FastAPI's and SQLAlchemy's public "
        "API (app/fast); false serves the same answers through the frameworks alone.",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest request body accepted (413)."
    )

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
