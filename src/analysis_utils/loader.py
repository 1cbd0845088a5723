"""Load a client's parameters: config's layers, keys and types, then the value rules of every stage.

The one way parameters are loaded (the command line, the runner, notebooks on their own, tests):
every problem of the layers and of the rules that the stage graph declares
(:func:`analysis_utils.stages.parameter_rules`) is named at once, in one ConfigError.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from analysis_utils import config, paths, stages
from analysis_utils.config import RunParams


def load_params(
    client_file: str | Path,
    overrides: Iterable[str] = (),
    defaults_file: Path = paths.DEFAULTS_FILE,
) -> RunParams:
    """Load defaults < client file < overrides, validate everything, return the resolved parameters.

    Raises
    ------
    ConfigError
        Listing every problem found (unknown keys with a did-you-mean, wrong types, bad choices,
        bad date format, periods without ``as_of`` ...), naming the client file.
    """
    layers = config.read_layers(client_file, overrides, defaults_file)
    problems = list(layers.problems)
    if layers.typed:  # value rules compare and index typed values; unknown keys do not stop them
        problems += [problem for rule in stages.parameter_rules() for problem in rule(layers.params)]
    return config.resolve(layers, problems)
