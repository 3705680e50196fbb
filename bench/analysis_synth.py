"""Synthetic rig recordings for the analysis tests and benchmark, written with plain h5py to
the layout of docs/FORMAT.md (as src/recording/writer.cc writes it: tables as groups of 1-D
columns, recordings [n_rows, n_neurons] float32 chunked along rows).

make_recording(path, trials, electrodes, fill, events) where
  trials: list of dicts with condition, n_prompt, n_generated, finish_reason
  electrodes: list of (site, side, width, neurons or None)
  fill(e, t, trial, rows) -> [rows, width] float32 values of electrode e for trial t
Rows are written trial by trial, so a file larger than memory can be made.
"""
import h5py
import numpy as np

STR = h5py.string_dtype("utf-8")


def _col(g, name, values, dtype):
    n = len(values)
    g.create_dataset(name, data=np.asarray(values, dtype=dtype) if dtype is not STR else np.array(values, dtype=object),
                     dtype=dtype, maxshape=(None,), chunks=(max(1, min(4096, n)),))


def make_recording(path, trials, electrodes, fill, events=None, config=""):
    events = events or {}
    conds = []
    for t in trials:
        if t["condition"] not in conds:
            conds.append(t["condition"])
    row_start, row = [], 0
    for t in trials:
        row_start.append(row)
        row += t["n_prompt"] + t["n_generated"]
    n_rows = row
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "rig-recording"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["dtype"] = "float32"  # the model's compute dtype
        f.attrs["recording_dtype"] = "float32"
        f.attrs["config"] = config
        f.attrs["n_trials_planned"] = np.int64(len(trials))
        f.attrs["n_trials_committed"] = np.int64(len(trials))
        f.attrs["n_rows_committed"] = np.int64(n_rows)
        s = f.create_group("stimuli")
        _col(s, "index", list(range(len(conds))), np.int64)
        _col(s, "condition", conds, STR)
        _col(s, "prompt", [f"prompt {c}" for c in conds], STR)
        g = f.create_group("trials")
        n = len(trials)
        _col(g, "index", list(range(n)), np.int64)
        _col(g, "stimulus", [conds.index(t["condition"]) for t in trials], np.int64)
        _col(g, "condition", [t["condition"] for t in trials], STR)
        _col(g, "repetition", [0] * n, np.int64)
        _col(g, "seed", [i for i in range(n)], np.uint64)
        _col(g, "stimulation", [""] * n, STR)
        _col(g, "prompt", [f"prompt {t['condition']}" for t in trials], STR)
        _col(g, "response", ["x" * t["n_generated"] for t in trials], STR)
        _col(g, "n_prompt_tokens", [t["n_prompt"] for t in trials], np.int64)
        _col(g, "n_generated", [t["n_generated"] for t in trials], np.int64)
        _col(g, "row_start", row_start, np.int64)
        _col(g, "row_stop", [row_start[i] + trials[i]["n_prompt"] + trials[i]["n_generated"] for i in range(n)], np.int64)
        _col(g, "finish_reason", [t.get("finish_reason", "length" if t["n_generated"] else "prompt_only")
                                  for t in trials], STR)
        k = f.create_group("tokens")
        tr = np.concatenate([np.full(t["n_prompt"] + t["n_generated"], i, np.int64) for i, t in enumerate(trials)])
        pos = np.concatenate([np.arange(t["n_prompt"] + t["n_generated"]) for t in trials])
        gen = np.concatenate([np.r_[np.zeros(t["n_prompt"]), np.ones(t["n_generated"])] for t in trials]).astype(np.uint8)
        _col(k, "trial", tr, np.int64)
        _col(k, "position", pos, np.int64)
        _col(k, "token_id", pos, np.int64)
        k.create_dataset("text", data=np.array([f"t{p}" for p in pos], dtype=object), dtype=STR,
                         maxshape=(None,), chunks=(min(16384, n_rows),))
        _col(k, "generated", gen, np.uint8)
        ev = f.create_group("events")
        for name, per_trial in events.items():  # per_trial: {trial: row within trial}
            e = ev.create_group(name)
            items = sorted(per_trial.items())
            _col(e, "trial", [i for i, _ in items], np.int64)
            _col(e, "row", [row_start[i] + r for i, r in items], np.int64)
        rec = f.create_group("recordings")
        for ei, (site, side, width, neurons) in enumerate(electrodes):
            sg = rec.require_group(site)
            chunk = max(1, min(16384, (1 << 20) // (4 * width)))
            d = sg.create_dataset(side, shape=(n_rows, width), dtype=np.float32, maxshape=(None, width),
                                  chunks=(min(chunk, n_rows), width))
            d.attrs["site"] = site
            d.attrs["side"] = side
            d.attrs["module_type"] = "Linear"
            d.attrs["site_width"] = np.int64(width if neurons is None else max(neurons) + 1)
            d.attrs["index"] = np.int64(ei)
            if neurons is not None:
                d.attrs["neurons"] = np.asarray(neurons, np.int64)
            # Write in blocks of trials (bounded memory for large files).
            i = 0
            while i < n:
                j, rows = i, 0
                while j < n and (rows == 0 or rows + trials[j]["n_prompt"] + trials[j]["n_generated"] <= 65536):
                    rows += trials[j]["n_prompt"] + trials[j]["n_generated"]
                    j += 1
                block = np.concatenate([fill(ei, t, trials[t], trials[t]["n_prompt"] + trials[t]["n_generated"])
                                        for t in range(i, j)])
                d[row_start[i]:row_start[i] + rows] = block
                i = j
    return row_start
