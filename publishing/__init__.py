"""Write, audit, publish: the dbt build of the candidate marts, the gate that audits them, and the atomic
publication of the `reporting` database analysts read."""
