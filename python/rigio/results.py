"""Reading the results file of `rig analyze` (docs/ANALYSIS.md, "Results file"): PSTHs and PCA
as arrays in the file's orientation ([bins x neurons], [components x neurons]), tables
(conditions, bins, trials, selectivity, window means, decoding) as DataFrames."""
from dataclasses import dataclass, field

import numpy as np

from ._common import FormatError, NotFoundError, attrs_of, check_format, open_h5, pd, read_column, table

FORMAT = "rig-analysis"
FORMAT_VERSION = 1  # the newest results format_version this rigio reads

_SELECTIVITY = ("d_prime", "selectivity_index", "auc", "t", "t_p", "anova_f", "anova_p", "anova_q", "eta2",
                "perm_p", "perm_q")


def open_results(path):
    """Open the results file that `rig analyze` writes (RECORDING.analysis.h5). Checks the root
    attributes `format` ("rig-analysis") and `format_version` (1); raises FormatError naming
    the file otherwise. The file is small (no per-trial activity); it is read whole."""
    return Results(path)


@dataclass
class Psth:
    """One condition's PSTH at one electrode: mean, sd, sem [bins x neurons] (NaN: no trial
    had data there), n [bins] (trials with data per bin)."""
    mean: np.ndarray
    sd: np.ndarray
    sem: np.ndarray
    n: np.ndarray


@dataclass
class Pca:
    """PCA of the condition-averaged trajectories: components [k x neurons],
    explained_variance [k], explained_variance_ratio [k], center [neurons], and projections,
    condition -> [bins x k]."""
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    center: np.ndarray
    projections: dict = field(default_factory=dict)


@dataclass
class SiteResults:
    """Everything `rig analyze` computed at one electrode (site, side)."""
    site: str
    side: str
    module_type: str
    neurons: np.ndarray   # [W] site neuron index of each column
    psth: dict            # condition -> Psth
    window_mean: object   # [conditions x neurons] mean over trials of the window means (DataFrame, or array)
    window_n: object      # [conditions] trials with data in the window (Series, or array)
    selectivity: object   # DataFrame indexed by neuron: d_prime ... perm_q, preferred (condition)
    pca: Pca
    decoding: object      # DataFrame per bin (start, stop, center, accuracy, n), or None (folds: 0)


class Results:
    """A results file opened by rigio.open_results(). Root attributes in `attrs` (and event,
    pre, post, bin as attributes); `conditions`, `bins`, `trials` and `electrodes` tables;
    per electrode, `site()`, `psth()` and `selectivity()`.

    Tables are pandas DataFrames; without pandas they are dicts of numpy arrays (the
    DataFrame's index first)."""

    def __init__(self, path):
        self.path = str(path)
        with open_h5(self.path) as f:
            self.attrs = attrs_of(f)
            self.format_version = check_format(self.path, self.attrs, FORMAT, FORMAT_VERSION,
                                               other={"rig-recording": "rigio.open()"})
            for g in ("conditions", "bins", "trials", "sites"):
                if g not in f:
                    raise FormatError(f"{self.path}: not a complete rig analysis file: group /{g} is missing")
            self._conditions = {"name": read_column(f["conditions/name"]), "n_trials": f["conditions/n_trials"][:]}
            self._bins = {c: f["bins"][c][:] for c in ("start", "stop", "center")}
            t = f["trials"]
            self._trials = {"condition": read_column(t["condition"]), "included": t["included"][:].astype(bool),
                            "event_row": t["event_row"][:], "fold": t["fold"][:]}
            self._trial_index = t["index"][:]
            self._sites = [(site, side, attrs_of(g).get("module_type", ""), g["neuron"].shape[0])
                           for site, sg in f["sites"].items() for side, g in sg.items()]
        self.event = self.attrs.get("event")
        self.pre, self.post, self.bin = self.attrs.get("pre"), self.attrs.get("post"), self.attrs.get("bin")

    def __repr__(self):
        return (f"<rigio.Results {self.path!r}: event {self.event}, {len(self._bins['start'])} bins, "
                f"conditions {list(self._conditions['name'])}, {len(self._sites)} electrodes>")

    @property
    def condition_names(self):
        """The analysed conditions, in the file's order (the order of every per-condition array)."""
        return list(self._conditions["name"])

    @property
    def conditions(self):
        """Analysed conditions (index `condition`) with n_trials, the trials included."""
        return table({"n_trials": self._conditions["n_trials"]}, self._conditions["name"], "condition")

    @property
    def bins(self):
        """One row per bin: start, stop ([start, stop) offsets in rows from the event) and
        center. Rows of every PSTH array."""
        return table(dict(self._bins))

    @property
    def trials(self):
        """One row per recording trial (file order), indexed by `trial`: condition, included,
        event_row (absolute row, -1: none), fold (decoding fold)."""
        return table(dict(self._trials), self._trial_index, "trial")

    @property
    def electrodes(self):
        """The analysed electrodes: site, side, module_type, width."""
        cols = list(zip(*self._sites)) if self._sites else [[], [], [], []]
        return table({k: np.array(v) for k, v in zip(("site", "side", "module_type", "width"), cols)})

    def _group(self, f, site, side):
        if site not in f["sites"] or side not in f["sites"][site]:
            have = ", ".join(f"{s}/{d}" for s, d, _, _ in self._sites)
            raise NotFoundError(f"{self.path}: electrode {site}/{side} was not analysed (analysed: {have})")
        return f["sites"][site][side]

    def _condition(self, condition):
        if condition not in self.condition_names:
            raise NotFoundError(f"{self.path}: condition '{condition}' was not analysed (analysed: "
                           f"{', '.join(self.condition_names)})")

    def psth(self, site, condition, side="output", stat="mean"):
        """One condition's PSTH at one electrode as in the file: `stat` mean, sd or sem as a
        [bins x neurons] float64 array, or n as [bins]."""
        self._condition(condition)
        if stat not in ("mean", "sd", "sem", "n"):
            raise ValueError(f"psth: stat must be mean, sd, sem or n (got {stat!r})")
        with open_h5(self.path) as f:
            return self._group(f, site, side)["psth"][condition][stat][()]

    def selectivity(self, site, side="output"):
        """Per neuron (index `neuron`, the site neuron index): d_prime, selectivity_index,
        auc, t, t_p (contrast), anova_f, anova_p, anova_q, eta2, perm_p, perm_q, and preferred
        (the condition with the largest window mean; None where none)."""
        with open_h5(self.path) as f:
            return self._selectivity(self._group(f, site, side))

    def _selectivity(self, g):
        s = g["selectivity"]
        cols = {c: s[c][:] for c in _SELECTIVITY}
        names = self.condition_names
        cols["preferred"] = np.array([names[p] if 0 <= p < len(names) else None for p in s["preferred"][:]],
                                     dtype=object)
        return table(cols, s["neuron"][:], "neuron")

    def site(self, site, side="output"):
        """Everything computed at one electrode, as a SiteResults."""
        with open_h5(self.path) as f:
            g = self._group(f, site, side)
            neurons = g["neuron"][:]
            names = self.condition_names
            psth = {c: Psth(*(g["psth"][c][k][()] for k in ("mean", "sd", "sem", "n"))) for c in names}
            window_mean, window_n = g["window/mean"][()], g["window/n"][:]
            if pd is not None:
                window_mean = pd.DataFrame(window_mean, index=pd.Index(names, name="condition"),
                                           columns=pd.Index(neurons, name="neuron"))
                window_n = pd.Series(window_n, index=pd.Index(names, name="condition"), name="n")
            p = g["pca"]
            pca = Pca(p["components"][()], p["explained_variance"][:], p["explained_variance_ratio"][:],
                      p["center"][:], {c: p["projections"][c][()] for c in names})
            decoding = None
            if "decoding" in g:
                decoding = table(dict(self._bins, accuracy=g["decoding/accuracy"][:], n=g["decoding/n"][:]))
            return SiteResults(site, side, attrs_of(g).get("module_type", ""), neurons, psth, window_mean, window_n,
                               self._selectivity(g), pca, decoding)
