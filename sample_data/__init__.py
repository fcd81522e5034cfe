"""A deterministic, realistic sample landing zone of county submissions (`python -m sample_data --help`).

`generate(landing)` writes the files and returns what a correct pipeline must make of them.
"""

from .landing import GeneratedFile, GeneratedLandingZone, generate

__all__ = ["GeneratedFile", "GeneratedLandingZone", "generate"]
