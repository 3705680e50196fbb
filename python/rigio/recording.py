"""Reading a rig recording (docs/FORMAT.md): tables as DataFrames, trials and event-aligned
epochs as arrays. Only the committed trials are read, so a file still being written or left by
a killed writer reads as the trials it holds whole."""
import contextlib
import time

import numpy as np

from ._common import (FormatError, NotFoundError, attrs_of, check_format, is_lock_error, object_array, open_h5,
                      read_column, table, xr)

FORMAT = "rig-recording"
FORMAT_VERSION = 1  # the newest recording format_version this rigio reads

# A read from a recording is at most READ_BLOCK_BYTES (a window longer than that is read alone),
# so memory does not grow with the file; windows closer than READ_GAP_BYTES of rows share a read,
# as one read costs more than a little unrequested data.
READ_BLOCK_BYTES = 64 << 20
READ_GAP_BYTES = 1 << 20

BUILT_IN_EVENTS = ("prompt_onset", "response_onset", "eos")

_TRIAL_COLUMNS = ("index", "stimulus", "condition", "repetition", "seed", "stimulation", "prompt", "response",
                  "n_prompt_tokens", "n_generated", "row_start", "row_stop", "finish_reason")
_NEEDED_TRIAL_COLUMNS = ("index", "stimulus", "condition", "n_prompt_tokens", "n_generated", "row_start", "row_stop",
                         "finish_reason")
_TOKEN_COLUMNS = ("trial", "position", "token_id", "text", "generated")


def open_recording(path):
    """Open a rig recording (an HDF5 file written by `rig run` or `rig merge`) for reading.

    Checks the root attributes `format` ("rig-recording") and `format_version` (1) and raises
    FormatError naming the file otherwise. Reads the header and the trial table now; recorded
    activity is read only when asked for, a block of rows at a time.

    A file whose writer is still running (or finishing a killed run) is read without HDF5's file
    lock, as it stood when opened: the trials committed then (`n_trials_committed`). Open it
    again to see later trials."""
    return Recording(path)


class Recording:
    """A rig recording opened by rigio.open(). The file is opened for each read and closed
    after, so holding a Recording never blocks `rig run --resume` on the same file.

    Trials are named by their `trial` index (the /trials `index` column, which /tokens and
    /events refer to), not by their position in the file: after shuffling, a resume or a merge,
    file order need not be index order.

    Tables are pandas DataFrames; without pandas they are dicts of numpy arrays (column name ->
    array, the DataFrame's index first). Epochs are xarray DataArrays; without xarray, numpy
    arrays."""

    def __init__(self, path):
        self.path = str(path)
        self._locking = True
        self.being_written = False  # True when a writer held the file's lock at open
        self._events = {}
        deadline = time.monotonic() + 5.0
        while True:
            try:
                with self._file() as f:
                    self._read_header(f)
                return
            except (OSError, KeyError, FormatError) as e:
                # A live file read mid-flush can look inconsistent for a moment; try again.
                if not self.being_written or isinstance(e, FileNotFoundError) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # ---- opening ----

    @contextlib.contextmanager
    def _file(self):
        try:
            f = open_h5(self.path, locking=self._locking)
        except OSError as e:
            if not is_lock_error(e):
                raise
            # A writer holds the file: read it unlocked; the committed rows we read do not change.
            self._locking = False
            self.being_written = True
            f = open_h5(self.path, locking=False)
        try:
            yield f
        finally:
            f.close()

    def _bad(self, what):
        return FormatError(f"{self.path}: {what}")

    def _read_header(self, f):
        self.attrs = attrs_of(f)
        self.format_version = check_format(self.path, self.attrs, FORMAT, FORMAT_VERSION,
                                           other={"rig-analysis": "rigio.open_results()"})
        if self.attrs.get("store") == "statistics":
            raise self._bad("a statistics recording (recording.store: statistics): it holds no rows for rigio to "
                            "read; read its /statistics datasets with h5py (docs/FORMAT.md, 'Statistics')")
        for g in ("stimuli", "trials", "tokens", "events", "recordings"):
            if g not in f:
                raise self._bad(f"not a complete rig recording: group /{g} is missing")
        if not isinstance(self.attrs.get("n_trials_committed"), int):
            raise self._bad("root attribute 'n_trials_committed' is missing")
        n = self.attrs["n_trials_committed"]

        tg = f["trials"]
        for c in _NEEDED_TRIAL_COLUMNS:
            if c not in tg:
                raise self._bad(f"column /trials/{c} is missing")
        names = [c for c in _TRIAL_COLUMNS if c in tg] + sorted(c for c in tg if c not in _TRIAL_COLUMNS)
        self._trials = {}
        for c in names:
            if tg[c].shape[0] < n:
                raise self._bad(f"/trials/{c} has {tg[c].shape[0]} rows; {n} trials are committed")
            self._trials[c] = read_column(tg[c], 0, n)
        stop = self._trials["row_stop"]
        self.n_trials = n
        self.n_rows = int(self.attrs.get("n_rows_committed", stop[-1] if n else 0))
        if n and int(stop[-1]) != self.n_rows:
            raise self._bad(f"the last committed trial ends at row {int(stop[-1])} but n_rows_committed is "
                            f"{self.n_rows}")
        self._pos = {int(t): i for i, t in enumerate(self._trials["index"])}  # trial index -> file row

        sg = f["stimuli"]
        for c in ("index", "condition", "prompt"):
            if c not in sg:
                raise self._bad(f"column /stimuli/{c} is missing")
        self._stimuli = {c: read_column(sg[c]) for c in ["index", "condition", "prompt"] +
                         sorted(c for c in sg if c not in ("index", "condition", "prompt"))}
        if n and int(self._trials["stimulus"].max()) >= len(self._stimuli["index"]):
            raise self._bad(f"/trials/stimulus refers to stimulus {int(self._trials['stimulus'].max())} but "
                            f"/stimuli has {len(self._stimuli['index'])} rows")

        for c in _TOKEN_COLUMNS:
            if c not in f["tokens"]:
                raise self._bad(f"column /tokens/{c} is missing")
            if f["tokens"][c].shape[0] < self.n_rows:
                raise self._bad(f"/tokens/{c} has {f['tokens'][c].shape[0]} rows; the committed trials need "
                                f"{self.n_rows}")

        self._electrodes = []
        for site, g in f["recordings"].items():
            for side, ds in g.items():
                if side not in ("input", "output"):
                    raise self._bad(f"/recordings/{site}/{side}: side must be input or output")
                a = attrs_of(ds)
                width = ds.shape[1]
                neurons = np.asarray(a["neurons"], dtype=np.int64) if "neurons" in a else np.arange(width)
                if len(neurons) != width:
                    raise self._bad(f"/recordings/{site}/{side} has {width} columns but its 'neurons' "
                                    f"attribute lists {len(neurons)}")
                if ds.shape[0] < self.n_rows:
                    raise self._bad(f"/recordings/{site}/{side} has {ds.shape[0]} rows; the committed trials "
                                    f"need {self.n_rows}")
                self._electrodes.append({
                    "index": a.get("index", len(self._electrodes)), "site": site, "side": side,
                    "module_type": a.get("module_type", ""), "site_width": a.get("site_width", width),
                    "layer": int(a.get("layer", -1)),
                    "width": width, "neurons": neurons, "dtype": str(ds.dtype)})
        self._electrodes.sort(key=lambda e: e["index"])
        self.event_names = sorted(f["events"].keys())

    def __repr__(self):
        live = ", being written" if self.being_written else ""
        return (f"<rigio.Recording {self.path!r}: {self.n_trials} trials, {self.n_rows} rows, "
                f"{len(self._electrodes)} electrodes, events {self.event_names}{live}>")

    # ---- tables ----

    @property
    def conditions(self):
        """The conditions that have trials, in the experiment's order (first appearance in
        /stimuli, as `rig analyze` orders them)."""
        have = set(self._trials["condition"])
        out = []
        for c in list(self._stimuli["condition"]) + list(self._trials["condition"]):
            if c in have and c not in out:
                out.append(c)
        return out

    @property
    def stimuli(self):
        """/stimuli: one row per stimulus, indexed by `stimulus` (the /trials column that
        refers to it); condition, prompt and the extra stimulus fields (template variables)."""
        cols = dict(self._stimuli)
        return table({k: v for k, v in cols.items() if k != "index"}, cols["index"], "stimulus")

    def _trial_columns(self, rows=slice(None)):
        cols = {k: v[rows] for k, v in self._trials.items() if k != "index"}
        stim = self._trials["stimulus"][rows]
        for k, v in self._stimuli.items():
            if k in ("index", "condition", "prompt"):
                continue  # /trials has its own condition and prompt
            cols[k if k not in cols else f"stimulus_{k}"] = v[stim]
        return self._trials["index"][rows], cols

    @property
    def trials(self):
        """/trials, committed trials in file order, indexed by `trial` (the trial's index in the
        experiment); the extra stimulus columns (template variables) joined on `stimulus`
        (prefixed `stimulus_` where a trial column has the same name)."""
        index, cols = self._trial_columns()
        return table(cols, index, "trial")

    @property
    def tokens(self):
        """/tokens, one row per committed time step, indexed by `row` (the absolute row, the
        same in every recording): trial, position, token_id, text, generated (bool). Reads the
        whole committed token table; rec.trial() reads one trial's."""
        return self._tokens(0, self.n_rows)

    def _tokens(self, r0, r1):
        with self._file() as f:
            g = f["tokens"]
            cols = {c: read_column(g[c], r0, r1) for c in _TOKEN_COLUMNS}
        cols["generated"] = cols["generated"].astype(bool)
        return table(cols, np.arange(r0, r1), "row")

    def _event_table(self, name):
        """Committed rows of /events/<name>: the leading rows whose row lies in the committed
        rows (a killed writer can leave -1 or later rows after them)."""
        if name not in self._events:
            with self._file() as f:
                g = f["events"][name]
                trial, row = g["trial"][:], g["row"][:]
            m = min(len(trial), len(row))
            bad = np.flatnonzero((row[:m] < 0) | (row[:m] >= self.n_rows))
            k = int(bad[0]) if len(bad) else m
            self._events[name] = (trial[:k], row[:k])
        return self._events[name]

    @property
    def events(self):
        """Every /events group, committed occurrences, one row each: event, trial, row (absolute)
        and row_in_trial (row - the trial's row_start)."""
        parts = {"event": [], "trial": [], "row": [], "row_in_trial": []}
        start = self._trials["row_start"]
        for name in self.event_names:
            trial, row = self._event_table(name)
            parts["event"].append(np.full(len(trial), name, dtype=object))
            parts["trial"].append(trial)
            parts["row"].append(row)
            parts["row_in_trial"].append(row - np.array([start[self._pos[int(t)]] for t in trial], dtype=np.int64))
        cols = {k: np.concatenate(v) if v else np.zeros(0, dtype=object if k == "event" else np.int64)
                for k, v in parts.items()}
        return table(cols)

    @property
    def electrodes(self):
        """One row per electrode, in the experiment's electrode order (indexed by `electrode`):
        site, side, module_type, site_width (the site's full width), width (columns recorded),
        layer (the decoder layer holding the site, -1 outside the layers or when the file does
        not say), neurons (the site neuron index of each column: a subset electrode's `neurons`
        attribute, else 0..width-1), dtype."""
        es = self._electrodes
        cols = {k: np.array([e[k] for e in es])
                for k in ("site", "side", "module_type", "site_width", "width", "layer", "dtype")}
        cols["neurons"] = object_array([e["neurons"] for e in es])
        return table(cols, np.array([e["index"] for e in es], dtype=np.int64), "electrode")

    # ---- activity ----

    def _electrode(self, site, side):
        for e in self._electrodes:
            if e["site"] == site and e["side"] == side:
                return e
        have = ", ".join(f"{e['site']}/{e['side']}" for e in self._electrodes)
        raise NotFoundError(f"{self.path}: no electrode {site}/{side} (recorded: {have})")

    def _columns(self, e, neurons):
        """Column positions of the site neurons asked for (None: every column)."""
        if neurons is None:
            return None, e["neurons"]
        where = {int(n): j for j, n in enumerate(e["neurons"])}
        asked = [int(n) for n in np.atleast_1d(neurons)]
        missing = [n for n in asked if n not in where]
        if missing:
            raise NotFoundError(f"{self.path}: electrode {e['site']}/{e['side']} did not record neuron(s) {missing} "
                           f"(it recorded {e['width']} of the site's {e['site_width']})")
        return np.array([where[n] for n in asked]), np.array(asked, dtype=np.int64)

    def trial(self, i, site, side="output", neurons=None):
        """Trial `i` (its index in the experiment, rec.trials.index) at one electrode: a
        float32 [rows x neurons] array (its prompt tokens' rows, then one per generated token;
        columns: `neurons`, site neuron indices, or every recorded one) and its tokens (the
        rows of rec.tokens)."""
        if int(i) not in self._pos:
            raise NotFoundError(f"{self.path}: no committed trial with index {i} ({self.n_trials} committed; "
                           "rec.trials.index lists them)")
        k = self._pos[int(i)]
        e = self._electrode(site, side)
        cols, _ = self._columns(e, neurons)
        a, b = int(self._trials["row_start"][k]), int(self._trials["row_stop"][k])
        with self._file() as f:
            x = f["recordings"][site][side][a:b]
        x = x.astype(np.float32, copy=False)
        return (x if cols is None else x[:, cols]), self._tokens(a, b)

    def event_rows(self, event):
        """The absolute row of `event` in every committed trial (file order), -1 where the
        trial has none. From /events/<event> when the file has it; otherwise the built-ins
        from /trials, as `rig analyze` does: prompt_onset = row_start, response_onset =
        row_start + n_prompt_tokens (trials that generated nothing: none), eos = the last row
        of trials with finish_reason eos."""
        t = self._trials
        start, stop = t["row_start"], t["row_stop"]
        if event in self.event_names:
            trial, row = self._event_table(event)
            rows = np.full(self.n_trials, -1, dtype=np.int64)
            for tr, r in zip(trial, row):
                if int(tr) in self._pos:
                    rows[self._pos[int(tr)]] = r
        elif event == "prompt_onset":
            rows = np.where(stop > start, start, -1)
        elif event == "response_onset":
            rows = np.where(t["n_generated"] > 0, start + t["n_prompt_tokens"], -1)
        elif event == "eos":
            rows = np.where(np.asarray(t["finish_reason"]) == "eos", stop - 1, -1)
        else:
            raise NotFoundError(f"{self.path}: no event '{event}' (the file has events: "
                           f"{', '.join(self.event_names) or 'none'}; built in: {', '.join(BUILT_IN_EVENTS)})")
        return np.where((rows >= start) & (rows < stop), rows, -1).astype(np.int64)

    def epochs(self, site, event="response_onset", pre=5, post=5, conditions=None, side="output", neurons=None,
               xarray=None, dtype=np.float32):
        """Activity aligned to an event: [trials x time x neurons], time = offsets -pre..post
        (rows) from the event's row, NaN where the offset falls outside the trial's own rows
        (never a neighbouring trial's). Trials of `conditions` (default: all) that have the
        event, in file order; trials without it are left out, as `rig analyze` leaves them out.

        Returns (epochs, trials): `trials` is the trial table of those trials (rec.trials' rows)
        with their `event_row`. `epochs` is an xarray DataArray with dims (trial, time, neuron),
        coordinates trial (index), time (offset), neuron (site neuron index) and, along trial,
        condition and stimulus, when xarray is installed and `xarray` is not False; otherwise a
        numpy array. `xarray=True` requires xarray.

        Memory: the result plus one read of rows (at most READ_BLOCK_BYTES); only the windows'
        rows are read, and the rows between two windows when they are closer than READ_GAP_BYTES."""
        if xarray is None:
            xarray = xr is not None
        elif xarray and xr is None:
            raise ImportError("rigio: epochs(xarray=True) needs xarray (apt-get install python3-xarray, or pip)")
        pre, post = int(pre), int(post)
        if pre < 0 or post < 0:
            raise ValueError(f"epochs: pre and post must be >= 0 (got pre={pre}, post={post})")
        e = self._electrode(site, side)
        cols, neuron_ids = self._columns(e, neurons)
        ev = self.event_rows(event)
        keep = ev >= 0
        if conditions is not None:
            conditions = [conditions] if isinstance(conditions, str) else list(conditions)
            unknown = [c for c in conditions if c not in self.conditions]
            if unknown:
                raise NotFoundError(f"{self.path}: no trials of condition(s) {unknown} (conditions: "
                               f"{', '.join(self.conditions)})")
            keep &= np.isin(self._trials["condition"], conditions)
        sel = np.flatnonzero(keep)

        length = pre + post + 1
        out = np.full((len(sel), length, len(neuron_ids)), np.nan, dtype=dtype)
        start, stop = self._trials["row_start"][sel], self._trials["row_stop"][sel]
        first = ev[sel] - pre                                  # absolute row of offset -pre
        r0, r1 = np.maximum(start, first), np.minimum(stop, ev[sel] + post + 1)
        itemsize = np.dtype(e["dtype"]).itemsize
        row_bytes = max(1, e["width"] * itemsize)
        max_rows, max_gap = max(1, READ_BLOCK_BYTES // row_bytes), READ_GAP_BYTES // row_bytes
        with self._file() as f:
            ds = f["recordings"][site][side]
            for b0, b1, ks in _blocks(r0, r1, max_rows, max_gap):
                block = ds[b0:b1]
                if cols is not None:
                    block = block[:, cols]
                for k in ks:
                    out[k, r0[k] - first[k]:r1[k] - first[k]] = block[r0[k] - b0:r1[k] - b0]

        index, tcols = self._trial_columns(sel)
        tcols["event_row"] = ev[sel]
        trials = table(tcols, index, "trial")
        if not xarray:
            return out, trials
        da = xr.DataArray(
            out, dims=("trial", "time", "neuron"), name=f"{site}/{side}",
            coords={"trial": index, "time": np.arange(-pre, post + 1), "neuron": neuron_ids,
                    "condition": ("trial", tcols["condition"]), "stimulus": ("trial", tcols["stimulus"])},
            attrs={"site": site, "side": side, "event": event, "recording": self.path})
        return da, trials


def _blocks(r0, r1, max_rows, max_gap):
    """Groups windows [r0[k], r1[k]) into reads [b0, b1) of at most max_rows rows (a longer
    window is read alone), joining a window to the read before it when the gap is at most
    max_gap rows. Yields (b0, b1, windows)."""
    b0 = b1 = None
    ks = []
    for k in np.argsort(r0, kind="stable"):
        a, b = int(r0[k]), int(r1[k])
        if ks and a - b1 <= max_gap and max(b1, b) - b0 <= max_rows:
            b1 = max(b1, b)
            ks.append(k)
            continue
        if ks:
            yield b0, b1, ks
        b0, b1, ks = a, b, [k]
    if ks:
        yield b0, b1, ks
