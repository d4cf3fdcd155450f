"""The vault's services (docs/vault.md): records, release to attested keeps, erasure and
retention, backups. They raise domain errors and never import the web framework."""
