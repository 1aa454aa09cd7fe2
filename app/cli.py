"""The ``policyfacts`` command: serve, migrate, seed and import.

uvicorn and Alembic are imported by the commands that use them: ``policyfacts import``
started 0.2 s sooner without them, 4% of loading 100,000 observations."""

import shlex
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import auth, logs
from app.bundle_file import load_file
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.errors import Invalid
from app.importer import Loader, load_bundle, load_seed
from app.models import Article
from app.queries import iso
from app.schemas import Bundle, ImportResult

cli = typer.Typer(
    help="policyfacts: economic-policy facts with their sources.",
    no_args_is_help=True,
    add_completion=False,
)


def seed_bundle() -> Bundle:
    """The bundle shipped with the package: the first article and every fact it states."""
    return Bundle.model_validate_json(files("app.data").joinpath("seed.json").read_bytes())


def load(engine: Engine, bundle: Bundle) -> ImportResult:
    """Load ``bundle`` in one transaction: all of it, or nothing."""
    with make_sessionmaker(engine)() as session, session.begin():
        return load_bundle(session, bundle)


def seed_database(engine: Engine) -> ImportResult:
    """Load the shipped seed, in one transaction: what the database has never held."""
    with make_sessionmaker(engine)() as session, session.begin():
        return load_seed(session, seed_bundle())


def _report(result: ImportResult) -> None:
    for kind, counts in result.model_dump().items():
        typer.echo(
            f"{kind}: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged"
        )


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Serve the API with uvicorn; on an empty database, migrate and seed it first."""
    import uvicorn

    from app import migrate as migrations

    settings = Settings()
    if settings.auto_migrate:
        engine = make_engine(settings.database_url)
        migrations.upgrade(engine)
        _seed_if_empty(engine)
        engine.dispose()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
        log_config=logs.uvicorn_log_config(),  # keys sent in URLs stay out of the access log
        # No WebSockets here: an Upgrade request is served as the HTTP request it also is,
        # instead of reaching the app as a WebSocket that Starlette refuses with an empty 403.
        ws="none",
        # A client's own X-Forwarded-* would be believed from any address uvicorn trusts
        # by default (127.0.0.1): only the proxies named in the settings are.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )


def _seed_if_empty(engine: Engine) -> None:
    """Load the seed into a database that holds no article yet."""
    with make_sessionmaker(engine)() as session:
        empty = not session.scalar(select(func.count()).select_from(Article))
    if empty:
        _report(seed_database(engine))


@cli.command()
def migrate(
    seed: Annotated[
        bool,
        typer.Option(
            "--seed", help="Then load the seed into a database that holds no article yet."
        ),
    ] = False,
) -> None:
    """Bring the database schema to the newest migration."""
    from app import migrate as migrations

    engine = make_engine(Settings().database_url)
    migrations.upgrade(engine)
    typer.echo(f"database at revision {migrations.current_revision(engine)}")
    if seed:
        _seed_if_empty(engine)
    engine.dispose()


@cli.command()
def seed() -> None:
    """Load the shipped seed: what the database has never held. Loading it again restores
    nothing a curator has changed or deleted."""
    from app import migrate as migrations

    engine = make_engine(Settings().database_url)
    migrations.upgrade(engine)
    _report(seed_database(engine))
    engine.dispose()


@cli.command(name="import")
def import_(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A JSON bundle.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Load a bundle file (the format of POST /v1/imports) in one transaction.

    Observations stream from the file, so a bundle of any size loads in bounded memory.
    """
    engine = make_engine(Settings().database_url, bulk_load=True)
    columns = (TextColumn("importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with (
            Progress(*columns, disable=quiet, transient=True) as bar,
            make_sessionmaker(engine)() as session,
            session.begin(),
        ):
            task = bar.add_task("import", total=path.stat().st_size)
            result = load_file(
                Loader(session), path, progress=lambda done: bar.update(task, completed=done)
            )
        _report(result)
    except Invalid as error:
        _fail(error.errors or [])
    finally:
        engine.dispose()


def _fail(errors: list[dict[str, Any]]) -> NoReturn:
    for problem in errors:
        typer.echo(f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}", err=True)
    typer.echo(f"{len(errors)} error(s); nothing was loaded.", err=True)
    raise typer.Exit(1)


keys = typer.Typer(help="API keys for writes: create, list, revoke.", no_args_is_help=True)
cli.add_typer(keys, name="keys")


def _session() -> Session:
    engine = make_engine(Settings().database_url)
    return make_sessionmaker(engine)()


@keys.command("create")
def keys_create(name: Annotated[str, typer.Argument(help="Who or what the key is for.")]) -> None:
    """Make a new key and print it once (the last line); only its hash is stored.

    A revoked key's name may be used again; a live key's may not."""
    problem = auth.name_problem(name)
    if problem is not None:
        typer.echo(f"cannot create the key: {problem} (got {name!r})", err=True)
        raise typer.Exit(1)
    taken = (
        f"a live key named {name!r} exists: revoke it first "
        f"(policyfacts keys revoke {shlex.quote(name)}), or pick another name"
    )
    try:
        with _session() as session, session.begin():
            if auth.live_key_named(session, name=name):
                typer.echo(taken, err=True)
                raise typer.Exit(1)
            key = auth.create_key(session, name=name)
    except IntegrityError:  # another `keys create` of the same name committed first
        typer.echo(taken, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"API key {name!r} created. It is shown only this once:", err=True)
    typer.echo(key)


@keys.command("list")
def keys_list() -> None:
    """List keys by name, with when they were made and revoked (never the keys)."""
    with _session() as session:
        for name, created_at, revoked_at in auth.list_keys(session):
            state = f"revoked {iso(revoked_at)}" if revoked_at else "active"
            typer.echo(f"{name}\tcreated {iso(created_at)}\t{state}")


@keys.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: writes with it get 401 from now on."""
    with _session() as session, session.begin():
        if not auth.revoke_key(session, name=name):
            typer.echo(f"no active key named {name!r}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked {name!r}")


def main() -> None:
    try:
        cli()
    except ModuleNotFoundError as error:
        if error.name != "psycopg":
            raise
        # psycopg is the postgres extra: a PostgreSQL URL on an install without it.
        raise SystemExit(
            "policyfacts: PostgreSQL needs psycopg: pip install 'policyfacts[postgres]'"
        ) from None
