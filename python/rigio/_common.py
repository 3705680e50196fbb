"""What the recording and the results readers share: optional pandas and xarray, tables,
opening HDF5 files with errors that name the file."""
import os

import h5py
import numpy as np

try:
    import pandas as pd
except ImportError:  # tables come back as dicts of numpy arrays
    pd = None
try:
    import xarray as xr
except ImportError:  # epochs come back as numpy arrays
    xr = None


class FormatError(ValueError):
    """A file rigio cannot read: not a rig file, a format version newer than rigio knows, or
    damaged. The message names the file and what was expected."""


class NotFoundError(KeyError):
    """A site, side, event, condition, trial or neuron the file does not have. The message
    names the file and lists what it has."""

    def __str__(self):  # KeyError would show the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


def is_lock_error(e):
    # HDF5's file lock: a writer (rig, or its writer process finishing a killed run) holds it.
    return "unable to lock file" in str(e)


def open_h5(path, locking=True):
    """h5py.File(path, "r"), without HDF5's file lock when locking is False; a missing or
    non-HDF5 file is an error naming the file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        # HDF5 >= 1.14 refuses a second handle on a file opened with other locking flags, so the
        # usual case passes none (HDF5's default, HDF5_USE_FILE_LOCKING honoured).
        return h5py.File(path, "r") if locking else h5py.File(path, "r", locking=False)
    except OSError as e:
        if is_lock_error(e):
            raise
        raise FormatError(f"{path}: not a readable HDF5 file ({e})") from e


def attr_value(v):
    """An HDF5 attribute as plain Python: str for strings, int/float for scalars."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def attrs_of(obj):
    return {k: attr_value(v) for k, v in obj.attrs.items()}


def is_string(ds):
    return h5py.check_string_dtype(ds.dtype) is not None


def read_column(ds, start=0, stop=None):
    """Rows [start, stop) of a 1-D column; strings decoded to str (object array)."""
    if is_string(ds):
        return ds.asstr()[start:stop]
    return ds[start:stop]


def table(columns, index=None, index_name=None):
    """A pandas DataFrame of `columns` (name -> 1-D array), or, without pandas, the dict
    itself with the index as its first entry."""
    if pd is None:
        out = {} if index is None else {index_name: np.asarray(index)}
        out.update(columns)
        return out
    idx = None if index is None else pd.Index(np.asarray(index), name=index_name)
    return pd.DataFrame(dict(columns), index=idx)


def object_array(items):
    """A 1-D object array holding `items` as they are (numpy would stack equal-length arrays)."""
    out = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out


def check_format(path, attrs, expected, version_known, other=None):
    """Root attributes `format` and `format_version` of a rig file; returns the version.
    `other` maps another rig format to the function that opens it, for the hint."""
    fmt = attrs.get("format")
    if fmt != expected:
        if other and fmt in other:
            raise FormatError(f"{path} is a '{fmt}' file, not a '{expected}' file: open it with {other[fmt]}")
        got = "missing" if fmt is None else f"'{fmt}'"
        raise FormatError(f"{path}: not a {expected} file (root attribute 'format' is {got}, expected '{expected}')")
    version = attrs.get("format_version")
    if not isinstance(version, int):
        raise FormatError(f"{path}: root attribute 'format_version' is missing or not an integer "
                          f"(got {version!r}); expected 1..{version_known}")
    if version < 1 or version > version_known:
        raise FormatError(f"{path}: {expected} format_version {version} is not supported: this rigio reads "
                          f"1..{version_known} (a newer rig wrote the file; install rigio from that rig's python/)")
    return version
