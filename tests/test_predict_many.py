"""Classify many pictures at once: the CLI over files and folders, and the draw page's several uploads."""

import csv
import io
import json

import numpy as np
from PIL import Image

from core.batchpredict import classify_pictures, results_frame
from core.cli import main
from core.runs import load_run
from core.synthetic import synthetic_images


def write_pictures(folder, count=12, seed=4):
    """PNGs of synthetic digits, named by their label, one corrupt file and one stray text file."""
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = synthetic_images(count, seed)
    for n, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image).save(folder / f"{n:02}-label{label}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    (folder / "notes.txt").write_text("not a picture")
    return images, labels


def test_a_folder_is_classified_least_confident_first_into_a_csv(trained_store, tmp_path, capsys):
    _, checkpoints = trained_store
    write_pictures(tmp_path / "pictures")
    out = tmp_path / "predictions.csv"
    store = ["--checkpoints", str(checkpoints)]
    assert main(["predict", "mnist-tiny", str(tmp_path / "pictures"), "--csv", str(out), *store]) == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "broken.png" in captured.err
    assert "12 pictures, least confident first; 1 skipped" in captured.out
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 12
    confidences = [float(row["confidence"]) for row in rows]
    assert confidences == sorted(confidences)
    assert all(abs(sum(float(row[f"p({d})"]) for d in range(10)) - 1) < 1e-4 for row in rows)
    assert {row["predicted"] for row in rows} <= {str(d) for d in range(10)}


def test_files_and_folders_mix_and_one_file_keeps_its_top_three(trained_store, tmp_path, capsys):
    _, checkpoints = trained_store
    write_pictures(tmp_path / "a", count=3)
    write_pictures(tmp_path / "b", count=2, seed=9)
    store = ["--checkpoints", str(checkpoints)]
    one = str(sorted((tmp_path / "b").glob("00-*.png"))[0])
    assert main(["predict", "mnist-tiny", one, *store]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["predict", "mnist-tiny", str(tmp_path / "a"), one, "--json", *store]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and {"file", "predicted", "confidence", "runner_up"} <= set(rows[0])
    assert main(["predict", "mnist-tiny", str(tmp_path / "nowhere.png"), *store]) == 2
    assert "no picture could be classified" in capsys.readouterr().err


def test_the_batch_agrees_with_one_picture_at_a_time(trained_store, tmp_path):
    _, checkpoints = trained_store
    run = load_run("mnist-tiny", checkpoints)
    images, _ = synthetic_images(5, 2)
    encoded = []
    for n, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        encoded.append((f"p{n}.png", buffer.getvalue()))
    together, _ = classify_pictures(run, encoded)
    alone = [classify_pictures(run, [picture])[0][0] for picture in encoded]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    frame = results_frame(together, run.config.classes)
    assert frame["confidence"].is_monotonic_increasing
