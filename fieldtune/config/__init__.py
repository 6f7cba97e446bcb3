"""The recipe: YAML + `--section.key=value` overrides -> a validated `RunConfig` (schema.py holds the fields)."""

from fieldtune.config.loading import *  # noqa: F403  (the public names are listed in loading.__all__)
from fieldtune.config.loading import __all__  # noqa: F401
