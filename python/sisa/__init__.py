"""sisa: exact machine unlearning, from Python.

A thin ctypes binding over libsisa (the C API in sisa/sisa.h); nothing to build. The library
is found through $SISA_LIBRARY (a path to libsisa.so), else the system's library search path.

    >>> import sisa, numpy as np
    >>> st = sisa.Store.open("run.yaml")          # or a dict of config keys
    >>> st.train()["shards_trained"]
    >>> st.unlearn(ids=[17, 42])["rows"]
    >>> proba = st.predict(np.asarray(X, dtype=np.float32))   # (n, classes) float32
    >>> st.status()["ready_shards"]

Every call runs in this process (one rank). Errors raise sisa.Error with sisa's message.
"""
import ctypes
import ctypes.util
import json
import os

import numpy as np

__all__ = ["Store", "Error", "library", "set_log_level"]

_PATH_MAX = 4096  # SISA_CONFIG_PATH_MAX


class Error(Exception):
    """A sisa failure: .code is the negative SISA_E* code, str() the message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _OpenOpts(ctypes.Structure):
    _fields_ = [("job", ctypes.c_void_p), ("wait", ctypes.c_double), ("accept_move", ctypes.c_int)]


class _TrainReport(ctypes.Structure):
    _fields_ = [("shards_trained", ctypes.c_uint64), ("empty_shards", ctypes.c_uint64),
                ("rows", ctypes.c_uint64), ("samples", ctypes.c_uint64),
                ("shards", ctypes.c_uint32), ("slices", ctypes.c_uint32), ("ranks", ctypes.c_int),
                ("seconds", ctypes.c_double), ("train_seconds", ctypes.c_double),
                ("peak_rss", ctypes.POINTER(ctypes.c_double)),
                ("store", ctypes.c_char * _PATH_MAX), ("store_id", ctypes.c_char * 64),
                ("config_hash", ctypes.c_char * 65)]


class _Deletion(ctypes.Structure):
    _fields_ = [("ids", ctypes.POINTER(ctypes.c_uint64)), ("n_ids", ctypes.c_size_t),
                ("groups", ctypes.POINTER(ctypes.c_uint64)), ("n_groups", ctypes.c_size_t),
                ("ids_text", ctypes.c_char_p), ("ids_file", ctypes.c_char_p),
                ("groups_text", ctypes.c_char_p), ("groups_file", ctypes.c_char_p),
                ("dry_run", ctypes.c_int)]


class _DeletionShard(ctypes.Structure):
    _fields_ = [("shard", ctypes.c_uint32), ("rows", ctypes.c_uint64),
                ("first_stage", ctypes.c_uint32), ("empty", ctypes.c_int),
                ("resumed_from", ctypes.c_uint32), ("seconds", ctypes.c_double),
                ("samples", ctypes.c_uint64), ("cost", ctypes.c_uint64)]


class _DeletionReport(ctypes.Structure):
    _fields_ = [("request", ctypes.c_uint64), ("rows", ctypes.c_uint64),
                ("subjects", ctypes.c_uint64), ("already_ids", ctypes.c_uint64),
                ("already_groups", ctypes.c_uint64), ("nothing", ctypes.c_int),
                ("dry_run", ctypes.c_int), ("n_shards", ctypes.c_uint32),
                ("shards_total", ctypes.c_uint32), ("slices", ctypes.c_uint32),
                ("shards", ctypes.POINTER(_DeletionShard)),
                ("retrain_samples", ctypes.c_uint64), ("full_samples", ctypes.c_uint64),
                ("store", ctypes.c_char * _PATH_MAX), ("origin", ctypes.c_char * 320),
                ("plan_samples", ctypes.c_uint64), ("samples_per_second", ctypes.c_double),
                ("estimated_seconds", ctypes.c_double), ("ranks", ctypes.c_int)]


class _Prediction(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint64), ("classes", ctypes.c_uint32),
                ("proba", ctypes.POINTER(ctypes.c_float)), ("label", ctypes.POINTER(ctypes.c_int32)),
                ("n_models", ctypes.c_uint32), ("shards", ctypes.POINTER(ctypes.c_uint32))]


def _load():
    path = os.environ.get("SISA_LIBRARY") or ctypes.util.find_library("sisa")
    if not path:
        raise ImportError("libsisa not found: install sisa or set SISA_LIBRARY to libsisa.so")
    lib = ctypes.CDLL(path)
    P, c_int = ctypes.POINTER, ctypes.c_int
    sigs = {
        "sisa_error_message": ([], ctypes.c_char_p),
        "sisa_version_string": ([], ctypes.c_char_p),
        "sisa_set_log_level": ([c_int], None),
        "sisa_open": ([P(ctypes.c_void_p), ctypes.c_char_p, P(_OpenOpts)], c_int),
        "sisa_open_yaml": ([P(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p,
                            ctypes.c_char_p, P(_OpenOpts)], c_int),
        "sisa_close": ([ctypes.c_void_p], None),
        "sisa_train": ([P(_TrainReport), ctypes.c_void_p], c_int),
        "sisa_train_report_free": ([P(_TrainReport)], None),
        "sisa_unlearn": ([P(_DeletionReport), ctypes.c_void_p, P(_Deletion), ctypes.c_void_p,
                          ctypes.c_void_p], c_int),
        "sisa_deletion_report_free": ([P(_DeletionReport)], None),
        "sisa_predict": ([P(_Prediction), ctypes.c_void_p, P(ctypes.c_float), ctypes.c_uint64,
                          ctypes.c_uint64], c_int),
        "sisa_prediction_free": ([P(_Prediction)], None),
        "sisa_status_json": ([P(ctypes.c_void_p), ctypes.c_void_p], c_int),
        "sisa_free": ([ctypes.c_void_p], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


library = _load()


def _check(code):
    if code < 0:
        raise Error(code, library.sisa_error_message().decode("utf-8", "replace"))
    return code


def set_log_level(level):
    """0: errors only, 1: warnings, 2: progress (sisa's default), 3: debug; all on stderr."""
    library.sisa_set_log_level(int(level))


def _text(b):
    return bytes(b).split(b"\0", 1)[0].decode("utf-8", "replace")


def _ids(values):
    if values is None:
        return None, 0
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.uint64).ravel())
    return arr, len(arr)


class Store:
    """A sisa store, opened from its config: a path to a YAML file, or a dict of keys."""

    def __init__(self, handle):
        self._h = ctypes.c_void_p(handle)

    @classmethod
    def open(cls, cfg, base_dir=None, wait=0.0):
        """Open the store `cfg` describes. A dict's relative paths are resolved against
        `base_dir` (default: the working directory). `wait`: seconds to wait for another writer."""
        h = ctypes.c_void_p()
        opts = _OpenOpts(None, float(wait), 0)
        if isinstance(cfg, dict):
            text = json.dumps(cfg)  # JSON is YAML's flow style
            base = os.fspath(base_dir) if base_dir is not None else os.getcwd()
            _check(library.sisa_open_yaml(ctypes.byref(h), text.encode(), b"<dict>",
                                          base.encode(), ctypes.byref(opts)))
        else:
            _check(library.sisa_open(ctypes.byref(h), os.fspath(cfg).encode(), ctypes.byref(opts)))
        return cls(h.value)

    def close(self):
        if self._h:
            library.sisa_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if not self._h:
            raise Error(-4, "the store is closed")
        return self._h

    def train(self):
        """Train (or resume) every shard; returns a dict report."""
        r = _TrainReport()
        try:
            _check(library.sisa_train(ctypes.byref(r), self._handle()))
            return {"shards_trained": r.shards_trained, "empty_shards": r.empty_shards,
                    "rows": r.rows, "samples": r.samples, "shards": r.shards,
                    "slices": r.slices, "seconds": r.seconds, "store": _text(r.store),
                    "store_id": _text(r.store_id), "config_hash": _text(r.config_hash)}
        finally:
            library.sisa_train_report_free(ctypes.byref(r))

    def unlearn(self, ids=None, groups=None, dry_run=False):
        """Delete rows exactly, by sample ID and/or group (data subject); returns a dict report.
        An unknown ID raises sisa.Error (code -6) and leaves the store unchanged."""
        ia, ni = _ids(ids)
        ga, ng = _ids(groups)
        what = _Deletion()
        if ia is not None:
            what.ids, what.n_ids = ia.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), ni
        if ga is not None:
            what.groups, what.n_groups = ga.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), ng
        what.dry_run = int(bool(dry_run))
        r = _DeletionReport()
        try:
            _check(library.sisa_unlearn(ctypes.byref(r), self._handle(), ctypes.byref(what),
                                        None, None))
            shards = [{"shard": r.shards[i].shard, "rows": r.shards[i].rows,
                       "first_stage": r.shards[i].first_stage, "empty": bool(r.shards[i].empty),
                       "resumed_from": r.shards[i].resumed_from, "samples": r.shards[i].samples,
                       "cost": r.shards[i].cost}
                      for i in range(r.n_shards)]
            return {"request": r.request, "rows": r.rows, "subjects": r.subjects,
                    "already_ids": r.already_ids, "already_groups": r.already_groups,
                    "nothing": bool(r.nothing), "dry_run": bool(r.dry_run), "shards": shards,
                    "retrain_samples": r.retrain_samples, "full_samples": r.full_samples,
                    "origin": _text(r.origin), "plan_samples": r.plan_samples,
                    "samples_per_second": r.samples_per_second,
                    "estimated_seconds": r.estimated_seconds}
        finally:
            library.sisa_deletion_report_free(ctypes.byref(r))

    def predict(self, X, labels=False):
        """The ensemble's posteriors (n, classes) float32 for the rows of X (n, features);
        with labels=True, (posteriors, labels)."""
        x = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        if x.ndim != 2:
            raise Error(-4, "predict needs a 2-D array (rows x features), got %d-D" % x.ndim)
        p = _Prediction()
        try:
            _check(library.sisa_predict(ctypes.byref(p), self._handle(),
                                        x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                        x.shape[0], x.shape[1]))
            n, c = p.n, p.classes
            proba = np.ctypeslib.as_array(p.proba, shape=(n * c,)).reshape(n, c).copy() \
                if n else np.zeros((0, c), dtype=np.float32)
            lab = np.ctypeslib.as_array(p.label, shape=(n,)).copy() if n else \
                np.zeros((0,), dtype=np.int32)
            return (proba, lab) if labels else proba
        finally:
            library.sisa_prediction_free(ctypes.byref(p))

    def status(self):
        """What `sisa status --json` prints, as a dict."""
        out = ctypes.c_void_p()
        code = library.sisa_status_json(ctypes.byref(out), self._handle())
        try:
            if code < 0:
                _check(code)
            return json.loads(ctypes.string_at(out.value).decode("utf-8"))
        finally:
            if out.value:
                library.sisa_free(out)
