"""Run Alembic programmatically over every component's version directory."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config

from elsewhere.db.engine import normalise_url

# Version directories, one per component, each its own Alembic branch.
VERSION_PACKAGES: tuple[str, ...] = (
    # "elsewhere.ledger.migrations", ...
    "elsewhere.control.store.migrations",
    "elsewhere.ledger.migrations",
    "elsewhere.vault.migrations",
    "elsewhere.custodian.migrations",
)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("elsewhere.db") / "alembic_env"))
    locations = [str(resources.files(package)) for package in VERSION_PACKAGES]
    config.set_main_option("version_locations", " ".join(locations))
    config.set_main_option("path_separator", "space")
    config.attributes["url"] = normalise_url(url)
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema of every component."""
    if not VERSION_PACKAGES:
        return
    command.upgrade(alembic_config(url), "heads")
