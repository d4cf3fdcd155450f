"""Names only a framework, a library or a wire format reads: vulture (`make lint`) cannot see
those uses. Keep this short; anything else vulture reports is dead code to delete."""

# ruff: noqa: B018, F821
# Set for the library that reads them: wasmtime's config, uvicorn's server, anyio's limiter,
# the sqlite3 driver, SQLAlchemy's TypeDecorator protocol, pytest.
consume_fuel, epoch_interruption, stdin_file, stdout_custom, stderr_custom, __traceback__
should_exit, total_tokens, isolation_level
impl, cache_ok, process_bind_param, process_result_value
# prometheus-client's Collector protocol; logging filters named in uvicorn's dictConfig
# (control/serve/edge.py) and the record attributes they set.
collect, RequestIdFilter, QuietPolls, levelno, levelname
optionxform  # configparser's hook (tests/test_deploy_files.py: keys keep their case)
pytestmark
_wasm, ctx  # a schemathesis serializer, registered by its decorator
# Fields of parsed formats (SEV-SNP report ABI, DCAP quote and collateral, ledger entries):
# named as their specifications name them, serialised or kept for readers of the structure.
reserved_04c, reserved_18b, reserved_208, signature_reserved, HEADER_SIZE
tcb_date, tcb_evaluation_data_number, att_key_type, user_data, platform_status
claims_digest, previous_digest, feed_digest
# Fields of the collateral, feed and policy documents that pydantic validates and nothing reads.
tcbType, schema_, sev_snp
# AR4SI's table of values (draft-ietf-rats-ar4si), kept whole though we assign only some.
VERIFIER_MALFUNCTION, NO_CLAIM, UNEXPECTED_EVIDENCE
# Other changes' areas, reported to their owners rather than deleted here:
window_problem  # evidence/dcap/roots.py
quarantine  # risk/reputation.py: ReputationBook API read by the risk CLI
