"""The checks, declared as data: submission row rules (an Arrow screen, Great Expectations where a rule
fails) and the gate's rules on the candidate marts; the Great Expectations runs and Data Docs."""
