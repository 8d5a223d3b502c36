"""The `aistudio` command line."""

from __future__ import annotations

import json
import sys

import typer

from aistudio.config import Settings, SettingsError, load_settings

app = typer.Typer(help="AI Studio: a Telegram bot selling generative AI models.", no_args_is_help=True)
catalog_app = typer.Typer(help="Inspect the model catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema (safe to run again)."""
    from aistudio.db.migrate import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.database_url)
    typer.echo("database is at the newest revision")


@app.command()
def run() -> None:
    """Run the bot: long polling (one instance polls, others wait), or webhook mode when WEBHOOK_BASE_URL is set.

    Serves /healthz, /readyz and /metrics on WEB_HOST:WEB_PORT; SIGTERM or SIGINT stops it gracefully.
    """
    from aistudio.ops.runner import main

    raise typer.Exit(main(_settings()))


def _load_catalog_or_exit():
    from aistudio.catalog import CatalogError, load_catalog

    try:
        return load_catalog()
    except CatalogError as exc:
        typer.echo(f"catalog invalid: {exc}", err=True)
        raise typer.Exit(1) from None


@catalog_app.command("verify")
def catalog_verify(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check every catalog entry; print counts per category, the free tier and the price range."""
    from aistudio.catalog.report import verify_report

    settings = _settings()
    catalog = _load_catalog_or_exit()
    report = verify_report(
        catalog,
        free_size=settings.free_tier_size,
        usd_per_credit=settings.usd_per_credit,
        fx=settings.fx_fallback_rub_per_usd,
        markup=settings.markup,
    )
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"models: {report['models_total']} ({report['models_enabled']} enabled and visible)")
        for category, count in report["per_category"].items():
            typer.echo(f"  {category:<16} {count}")
        typer.echo("free tier: " + ", ".join(report["free_tier"]))
        typer.echo(
            f"price range at the fallback rate {settings.fx_fallback_rub_per_usd} RUB/USD and markup "
            f"{settings.markup}: {report['price_min_rub']} – {report['price_max_rub']} RUB"
        )
        if report["disabled"]:
            typer.echo("disabled: " + ", ".join(report["disabled"]))
    if report["missing_categories"]:
        typer.echo("categories with no enabled model: " + ", ".join(report["missing_categories"]), err=True)
        raise typer.Exit(1)


@catalog_app.command("export")
def catalog_export(
    format: str = typer.Option("json", "--format", help="Output format (json)."),
) -> None:
    """Print every model with its fields and default price."""
    from aistudio.catalog.report import export_models

    if format != "json":
        typer.echo("only --format json is supported", err=True)
        raise typer.Exit(2)
    settings = _settings()
    catalog = _load_catalog_or_exit()
    models = export_models(
        catalog,
        usd_per_credit=settings.usd_per_credit,
        fx=settings.fx_fallback_rub_per_usd,
        markup=settings.markup,
    )
    json.dump({"models": models}, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


@catalog_app.command("sync")
def catalog_sync(
    source: str | None = typer.Option(
        None, "--from", help="Read saved answers from DIR (models.json, schema_<id>.json, price_<id>.json)."
    ),
    out: str | None = typer.Option(None, "--out", help="Also write the diff to FILE."),
    apply: bool = typer.Option(False, "--apply", help="Add new models disabled, disable changed and retired ones."),
    as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON."),
    save: str | None = typer.Option(None, "--save", help="Live mode: also save Kie's answers to DIR."),
    pause: float = typer.Option(1.5, "--pause", help="Live mode: seconds between Kie calls."),
    catalog_dir: str | None = typer.Option(None, "--catalog-dir", help="Catalog directory (default: shipped)."),
) -> None:
    """Compare the catalog with Kie's catalog endpoints and print a reviewed diff (exit 1 when it differs).

    Never deletes or enables a model; `--apply` writes new models disabled into `_sync_pending.yaml` and
    disables models whose fields or price changed (and retires vanished ones) until a person reviews them.
    """
    import asyncio
    from datetime import UTC, datetime
    from pathlib import Path

    from aistudio.catalog import CatalogError, load_catalog
    from aistudio.catalog.loader import CATALOG_DIR
    from aistudio.catalog.sync import apply_report, compare, fetch_snapshot, read_snapshot

    directory = Path(catalog_dir) if catalog_dir else CATALOG_DIR
    try:
        catalog = load_catalog(directory)
    except CatalogError as exc:
        typer.echo(f"catalog invalid: {exc}", err=True)
        raise typer.Exit(2) from None
    if source is not None:
        try:
            snapshot = read_snapshot(Path(source))
        except (OSError, ValueError) as exc:
            typer.echo(f"cannot read {source}: {exc}", err=True)
            raise typer.Exit(2) from None
    else:
        from aistudio.kie import KieClient
        from aistudio.kie.errors import KieError

        settings = _settings()
        if settings.kie_api_key is None:
            typer.echo("KIE_API_KEY is not set (or use --from DIR)", err=True)
            raise typer.Exit(2)

        async def fetch():
            async with KieClient(
                settings.kie_api_key.get_secret_value(),
                base_url=settings.kie_api_base,
                get_attempts=3,
                backoff_base=2.0,
                backoff_max=30.0,
            ) as client:
                return await fetch_snapshot(
                    client,
                    pause=pause,
                    save_to=Path(save) if save else None,
                    progress=lambda model: typer.echo(f"  reading {model}", err=True),
                )

        try:
            snapshot = asyncio.run(fetch())
        except (KieError, ValueError) as exc:
            typer.echo(f"cannot read Kie's catalog: {exc}", err=True)
            raise typer.Exit(2) from None
    report = compare(catalog, snapshot)
    text = json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n" if as_json else report.render()
    typer.echo(text, nl=False)
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    if apply and not report.empty:
        result = apply_report(report, directory, today=datetime.now(UTC).date().isoformat())
        typer.echo(
            f"applied: {len(result.added)} added disabled, {len(result.disabled)} disabled, "
            f"{len(result.retired)} retired" + (f", skipped {', '.join(result.skipped)}" if result.skipped else ""),
            err=True,
        )
    if not report.empty:
        raise typer.Exit(1)


@app.command()
def demo(
    port: int = typer.Option(8080, help="Port of the sandbox web chat and the emulated Bot API."),
    time_scale: float = typer.Option(0.3, help="Real seconds per emulated Kie second (0.3: a 10 s task takes 3 s)."),
) -> None:
    """Run the whole bot in the local sandbox: emulated Telegram and Kie, no tokens, no spend."""
    import asyncio
    import logging

    from aistudio.sandbox.demo import run_demo

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_demo(port, time_scale=time_scale))


sandbox_app = typer.Typer(help="Run one emulator alone.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("kie")
def sandbox_kie(port: int = typer.Option(8081), time_scale: float = typer.Option(1.0)) -> None:
    """The Kie.ai emulator (API, uploads, callbacks, control API under /sandbox/)."""
    from aistudio.sandbox.kie.__main__ import main as kie_main

    kie_main(["--port", str(port), "--time-scale", str(time_scale)])


@sandbox_app.command("telegram")
def sandbox_telegram(port: int = typer.Option(8080)) -> None:
    """The Telegram Bot API emulator with the web chat at /."""
    from aistudio.sandbox.telegram.__main__ import main as telegram_main

    telegram_main(["--port", str(port)])


wallets_app = typer.Typer(help="One-off operations on users' wallets.", no_args_is_help=True)
app.add_typer(wallets_app, name="wallets")


@wallets_app.command("migrate-legacy-bonus")
def wallets_migrate_legacy_bonus(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be credited; change nothing."),
    confirm: bool = typer.Option(False, "--confirm", help="Credit the bonus for real."),
    amount: str | None = typer.Option(None, "--amount", help="Roubles per user (default: START_BONUS_RUB)."),
) -> None:
    """Credit the welcome bonus once to every existing user who never had it (safe to run again)."""
    import asyncio
    import logging
    from decimal import Decimal, InvalidOperation

    from aistudio.growth.legacy_bonus import run_from_cli

    if dry_run == confirm:
        typer.echo("say --dry-run (show what would happen) or --confirm (credit), exactly one", err=True)
        raise typer.Exit(2)
    settings = _settings()
    try:
        rub = Decimal(amount) if amount is not None else settings.start_bonus_rub
    except InvalidOperation:
        rub = Decimal(0)
    kopecks = rub * 100 if rub.is_finite() else Decimal(0)
    if kopecks <= 0 or kopecks != kopecks.to_integral_value():
        typer.echo("the bonus must be a positive number of roubles (START_BONUS_RUB or --amount)", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_from_cli(settings.database_url, int(kopecks), dry_run=dry_run, echo=typer.echo))


if __name__ == "__main__":
    app()
