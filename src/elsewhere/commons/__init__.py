"""A data commons: parties, datasets, proposals, approvals, vetoes, budgets, output rules.

Pure functions and frozen dataclasses; the custodian service (elsewhere.custodian) and the
keep-side session (elsewhere.commons.session) use them. See docs/commons.md.
"""
