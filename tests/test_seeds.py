"""Accuracy over seeds: the command's parsing, the results file, and a real (tiny) run per seed."""

import json

import pytest

from core.cli.seeds import parse_seeds
from core.config import ConfigError
from core.evidence import environment, mean_std
from core.seeds import SeedRow, train_seeds, write_results


def test_seed_ranges_and_lists():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("7,3,0") == [0, 3, 7]
    for bad in ("0-1", "1,1,1", "a-b", "-1,0,1"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_mean_and_sample_standard_deviation():
    mean, std = mean_std([0.99, 0.991, 0.989])
    assert mean == pytest.approx(0.99) and std == pytest.approx(0.001)


def row(dataset, accuracies, model="fast-cnn"):
    return SeedRow(dataset, "quick", [0, 1, 2], accuracies, [10.0, 11.0, 12.0], 2, environment(), model)


def test_results_keep_other_rows_and_record_where_they_came_from(tmp_path):
    write_results(row("mnist", [0.99, 0.991, 0.989]), tmp_path)
    write_results(row("fashion-mnist", [0.91, 0.912, 0.908]), tmp_path)
    write_results(row("mnist", [0.992, 0.992, 0.992]), tmp_path)
    saved = json.loads((tmp_path / "seeds.json").read_text())["rows"]
    assert [(r["dataset"], r["test_accuracies"][0]) for r in saved] == [("fashion-mnist", 0.91), ("mnist", 0.992)]
    assert all(r["environment"]["commit"] and r["environment"]["cpu"] for r in saved)
    table = (tmp_path / "seeds.md").read_text()
    assert "91.00% ± 0.20%" in table and "99.20% ± 0.00%" in table and "commit " in table


def test_a_preset_that_changes_its_model_keeps_the_row_of_the_model_before(tmp_path):
    write_results(row("mnist", [0.99, 0.99, 0.99], model="quick-cnn"), tmp_path)
    write_results(row("mnist", [0.98, 0.98, 0.98], model="fast-cnn"), tmp_path)
    saved = json.loads((tmp_path / "seeds.json").read_text())["rows"]
    assert [(r["model"], r["test_accuracies"][0]) for r in saved] == [("fast-cnn", 0.98), ("quick-cnn", 0.99)]


def test_each_seed_is_a_real_run(idx_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(idx_data_dir))
    seen = []
    store = tmp_path / "runs"
    result = train_seeds("quick", "mnist", [0, 1, 2], store=store, report=lambda *args: seen.append(args))
    assert [args[0] for args in seen] == [0, 1, 2]
    weights = {(store / f"seeds-mnist-quick-{seed}" / "model.safetensors").read_bytes() for seed in (0, 1, 2)}
    assert len(weights) == 3, "different seeds, different runs"
    assert all(0 <= accuracy <= 1 for accuracy in result.test_accuracies)


def test_the_table_says_one_epoch_in_the_singular(tmp_path):
    one = SeedRow("mnist", "quick", [0, 1, 2], [0.99] * 3, [5.0] * 3, 1, environment(), "fast-cnn")
    write_results(one, tmp_path)
    assert "| quick (fast-cnn, 1 epoch) |" in (tmp_path / "seeds.md").read_text()
