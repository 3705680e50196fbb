"""rigio: read rig's recordings and analysis results in Python.

    import rigio
    rec = rigio.open("data/recordings/quickstart.h5")
    rec.trials                                       # DataFrame, one row per trial
    x, tokens = rec.trial(0, "gpt_neox.layers.1.mlp.act")
    epochs, trials = rec.epochs("gpt_neox.layers.1.mlp.act", event="response_onset", pre=6, post=6)

Needs h5py and numpy; tables are pandas DataFrames and epochs xarray DataArrays when those are
installed (dicts of numpy arrays and numpy arrays otherwise). See python/README.md.
"""
from ._common import FormatError, NotFoundError
from .recording import BUILT_IN_EVENTS, Recording, open_recording
from .results import Pca, Psth, Results, SiteResults, open_results

__version__ = "1.0.0"
open = open_recording  # rigio.open(path), as h5py.File or xarray.open_dataset read

__all__ = ["open", "open_recording", "open_results", "Recording", "Results", "SiteResults", "Psth", "Pca",
           "FormatError", "NotFoundError",
           "BUILT_IN_EVENTS"]
