"""The data stewards' web app (FastAPI): runs, gate failures, ledger, quarantine, missing submissions, and
the decisions of warehouse.reviews. Started by `make steward`; see docs/stewards.md."""
