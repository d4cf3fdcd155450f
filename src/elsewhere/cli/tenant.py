"""`elsewhere tenant create|list|token`, `elsewhere operator-token create` and `elsewhere
token list|revoke`: operator commands that work directly on the control plane's store. A token
is printed once; only its SHA-256 is kept."""

from __future__ import annotations

import argparse
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.serve import add_store_args, open_plane
from elsewhere.cli.table import add_json_flag, print_json, render_table
from elsewhere.cli.tokenfile import add_token_file_arg, check_token_file, give_token
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.auth import (
    Kind,
    create_credential,
    list_credentials,
    revoke_credential,
)
from elsewhere.control.tenancy.tenants import create_tenant, list_tenants, new_tenant_token
from elsewhere.i18n import _


def register(commands: Any) -> None:
    group = commands.add_parser("tenant", help="create and list tenants (operator)")
    sub = group.add_subparsers(title="tenant commands", metavar="COMMAND")
    create = sub.add_parser("create", help="create a tenant and print its API token once")
    create.add_argument("name")
    add_token_file_arg(create)
    add_json_flag(create)
    add_store_args(create)
    create.set_defaults(handler=run_create)
    listing = sub.add_parser("list", help="list tenants")
    add_json_flag(listing)
    add_store_args(listing)
    listing.set_defaults(handler=run_list)
    token = sub.add_parser("token", help="print a new API token for an existing tenant")
    token.add_argument("name")
    add_token_file_arg(token)
    add_json_flag(token)
    add_store_args(token)
    token.set_defaults(handler=run_token)

    operator = commands.add_parser("operator-token", help="operator API tokens (advisories)")
    op_sub = operator.add_subparsers(title="operator-token commands", metavar="COMMAND")
    op_create = op_sub.add_parser("create", help="print a new operator token once")
    op_create.add_argument("--name", default="operator")
    add_token_file_arg(op_create)
    add_json_flag(op_create)
    add_store_args(op_create)
    op_create.set_defaults(handler=run_operator)

    tokens = commands.add_parser("token", help="list and revoke API tokens (operator)")
    token_sub = tokens.add_subparsers(title="token commands", metavar="COMMAND")
    listed = token_sub.add_parser("list", help="every token's id, kind, name and state")
    add_json_flag(listed)
    add_store_args(listed)
    listed.set_defaults(handler=run_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id (cred_…)")
    revoke.add_argument("id")
    add_json_flag(revoke)
    add_store_args(revoke)
    revoke.set_defaults(handler=run_token_revoke)


def run_create(args: argparse.Namespace) -> int:
    check_token_file(args)
    cp = open_plane(args)
    with write(cp.engine) as conn:
        made = create_tenant(conn, args.name)
    if not args.json:
        print(_("tenant {name} ({id})").format(name=made.name, id=made.id))
    give_token(args, made.token, {"id": made.id, "name": made.name})
    if not args.json:
        print(_("the token is shown only this once; the control plane keeps only its SHA-256"))
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    cp = open_plane(args)
    with read(cp.engine) as conn:
        rows = list_tenants(conn)
    if args.json:
        print_json([{k: str(r[k]) for k in ("id", "name", "created_at")} for r in rows])
        return EXIT_OK
    print(
        render_table(
            ("id", "name", "created"), [(r["id"], r["name"], r["created_at"]) for r in rows]
        )
    )
    return EXIT_OK


def run_token(args: argparse.Namespace) -> int:
    check_token_file(args)
    cp = open_plane(args)
    with write(cp.engine) as conn:
        token = new_tenant_token(conn, args.name)
    give_token(args, token, {"name": args.name})
    return EXIT_OK


def run_operator(args: argparse.Namespace) -> int:
    check_token_file(args)
    cp = open_plane(args)
    with write(cp.engine) as conn:
        token = create_credential(conn, Kind.OPERATOR, args.name)
    give_token(args, token, {"name": args.name})
    return EXIT_OK


def run_token_list(args: argparse.Namespace) -> int:
    cp = open_plane(args)
    with read(cp.engine) as conn:
        rows = list_credentials(conn)
    if args.json:
        print_json([{k: _text(v) for k, v in r.items()} for r in rows])
        return EXIT_OK
    columns = ("id", "kind", "name", "subject", "created", "revoked")
    cells = [
        (r["id"], r["kind"], r["name"], r["subject"] or "", r["created_at"], r["revoked_at"] or "")
        for r in rows
    ]
    print(render_table(columns, cells))
    return EXIT_OK


def run_token_revoke(args: argparse.Namespace) -> int:
    cp = open_plane(args)
    with write(cp.engine) as conn:
        state = revoke_credential(conn, args.id)
    if args.json:
        print_json({"id": args.id, "state": state})
        return EXIT_OK
    print(_("{id}: {state}; the API refuses it within 5 s").format(id=args.id, state=state))
    return EXIT_OK


def _text(value: object) -> object:
    """A JSON-ready value: times (and anything else not JSON) as text, None kept."""
    return value if value is None or isinstance(value, str | int | bool) else str(value)
