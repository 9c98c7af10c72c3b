r"""keypoint-MoSeq syllables for the ``segment`` eval: fit it on the eval's keypoints.

keypoint-MoSeq (Weinreb et al. 2024) is the field's reference unsupervised segmenter. It
is not a dependency of ethoagent (it pulls jax, numba, panel and friends), so it runs in
its own environment, and the eval calls this script there when it finds one::

    python3 -m venv .cache/kpms-venv
    .cache/kpms-venv/bin/pip install keypoint-moseq
    .cache/kpms-venv/bin/python benchmarks/segment_keypoint_moseq.py \
        --keypoints session.npz --out session_syllables.csv

The script needs only numpy and keypoint-moseq (it does not import ethoagent).

Input ``--keypoints``: a ``.npz`` with

- ``points``: ``(frames, individuals, keypoints, D)`` float64, D = 2 (pixels) or 3 (mm),
  NaN = missing;
- ``confidence``: ``(frames, individuals, keypoints)`` float64 in [0, 1], NaN = none;
- ``keypoints``: ``(keypoints,)`` str, names; ``individuals``: ``(individuals,)`` str;
- ``anterior`` / ``posterior``: str, names of the keypoints that set the heading;
- ``fps``: float, Hz.

Each individual is one keypoint-MoSeq recording; one model is fitted on all of them on
the CPU, in the order of the kpms tutorial: the AR-HMM (``--arhmm-iters``, kappa
``--kappa-arhmm``), then optionally the full keypoint-SLDS (``--full-iters``, kappa
``--kappa-full``). The default is the AR-HMM stage alone, as the eval runs it: on two
shared CPU cores the keypoint-SLDS stage took about 60 s per iteration on 16,200 frames
(the tutorial asks for 500), while on a 1-minute session 50 AR-HMM + 50 keypoint-SLDS
iterations scored within 0.01 macro-F1 of 100 AR-HMM iterations alone.

Output ``--out``: CSV ``frame,<individual...>``, one row per frame, the syllable of each
individual (int); and ``<out>.json`` beside it: fit settings, kpms version, wall time (s).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def fit_syllables(
    data: dict[str, Any],
    *,
    arhmm_iters: int,
    full_iters: int,
    kappa_arhmm: float,
    kappa_full: float,
    seed: int,
    work: Path,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit keypoint-MoSeq; return syllables ``(frames, individuals)`` int64 and fit info."""
    import jax  # type: ignore[import-not-found]
    import keypoint_moseq as kpms  # type: ignore[import-not-found]
    from keypoint_moseq.io import generate_config  # type: ignore[import-not-found]

    points = np.asarray(data["points"], dtype=np.float64)
    conf = np.asarray(data["confidence"], dtype=np.float64)
    names = [str(k) for k in data["keypoints"]]
    individuals = [str(i) for i in data["individuals"]]
    fps = float(data["fps"])
    frames = points.shape[0]
    conf = np.where(np.isfinite(conf), conf, 1.0)  # no score: trust the point
    coordinates = {f"ind{i}": points[:, i] for i in range(len(individuals))}
    confidences = {f"ind{i}": conf[:, i] for i in range(len(individuals))}
    generate_config(
        str(work),
        bodyparts=names,
        use_bodyparts=names,
        skeleton=[],
        anterior_bodyparts=[str(a) for a in np.atleast_1d(data["anterior"])],
        posterior_bodyparts=[str(p) for p in np.atleast_1d(data["posterior"])],
        fps=round(fps),
    )
    config = kpms.load_config(str(work))
    formatted, metadata = kpms.format_data(coordinates, confidences, **config)
    pca = kpms.fit_pca(**formatted, **config)
    explained = np.cumsum(pca.explained_variance_ratio_)
    latent_dim = min(10, int(np.searchsorted(explained, 0.9)) + 1)
    config["ar_hypparams"]["latent_dim"] = latent_dim
    config["cen_hypparams"]["sigmasq_loc"] = kpms.estimate_sigmasq_loc(
        formatted["Y"], formatted["mask"], filter_size=round(fps)
    )
    model = kpms.init_model(formatted, pca=pca, seed=jax.random.PRNGKey(seed), **config)
    model = kpms.update_hypparams(model, kappa=float(kappa_arhmm))
    model, name = kpms.fit_model(
        model,
        formatted,
        metadata,
        str(work),
        "fit",
        ar_only=True,
        num_iters=arhmm_iters,
        save_every_n_iters=None,
        generate_progress_plots=False,
    )
    if full_iters > 0:
        model = kpms.update_hypparams(model, kappa=float(kappa_full))
        model = kpms.fit_model(
            model,
            formatted,
            metadata,
            str(work),
            name,
            ar_only=False,
            start_iter=arhmm_iters,
            num_iters=arhmm_iters + full_iters,
            save_every_n_iters=None,
            generate_progress_plots=False,
        )[0]
    results = kpms.extract_results(model, metadata, save_results=False)
    syllables = np.stack(
        [np.asarray(results[f"ind{i}"]["syllable"])[:frames] for i in range(len(individuals))],
        axis=1,
    ).astype(np.int64)
    info = {
        "keypoint_moseq": kpms.__version__,
        "jax_backend": jax.default_backend(),
        "latent_dim": latent_dim,
        "arhmm_iters": arhmm_iters,
        "full_iters": full_iters,
        "kappa_arhmm": kappa_arhmm,
        "kappa_full": kappa_full,
        "seed": seed,
        "frames": frames,
        "individuals": individuals,
        "syllables_used": int(np.unique(syllables).size),
    }
    return syllables, info


def write_syllables(path: Path, syllables: np.ndarray, individuals: list[str]) -> None:
    """Write ``frame,<individual...>`` CSV of ``(frames, individuals)`` int syllables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["frame", *individuals])
        for f, row in enumerate(syllables):
            w.writerow([f, *(int(s) for s in row)])
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--keypoints", type=Path, required=True, help=".npz (see the docstring)")
    ap.add_argument("--out", type=Path, required=True, help="syllables CSV to write")
    ap.add_argument("--arhmm-iters", type=int, default=100, help="AR-HMM iterations")
    ap.add_argument(
        "--full-iters", type=int, default=0, help="keypoint-SLDS iterations after the AR-HMM"
    )
    ap.add_argument("--kappa-arhmm", type=float, default=1e6)
    ap.add_argument("--kappa-full", type=float, default=1e4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        import keypoint_moseq  # noqa: F401
    except ImportError as exc:
        print(f"keypoint-moseq is not installed in {sys.executable}: {exc}", file=sys.stderr)
        return 2
    with np.load(args.keypoints, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kpms-") as tmp:
        syllables, info = fit_syllables(
            data,
            arhmm_iters=args.arhmm_iters,
            full_iters=args.full_iters,
            kappa_arhmm=args.kappa_arhmm,
            kappa_full=args.kappa_full,
            seed=args.seed,
            work=Path(tmp),
        )
    info["wall_s"] = round(time.perf_counter() - start, 2)
    write_syllables(args.out, syllables, info["individuals"])
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
