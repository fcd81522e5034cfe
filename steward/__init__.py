"""Everything a data steward does: decisions (waive, reject, request resubmission, reopen, accept a row),
exports for the counties, the web app, and the command line (`python -m steward --help`)."""
