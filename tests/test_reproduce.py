import json

from core.evidence import environment
from core.reproduce import Result, markdown_table, reproduce, write_results


def result(model, accuracy=0.99, epochs=3, tutorial_epochs=3):
    return Result(
        model, "mnist", epochs, tutorial_epochs, accuracy, epochs, "96.71% after 3 epochs", 12.3, "completed", ""
    )


def test_table_shows_ours_beside_the_reported_figure_and_shortened_budgets():
    env = {**environment(), "commit": "abc1234", "cpu": "Test CPU", "cpu_isa": "AVX2"}
    table = markdown_table([result("pytorch-example"), result("two-conv-fc3", 0.985, 5, 20)], env)
    assert "| `pytorch-example` | mnist | 3 | 99.00% | 96.71% after 3 epochs | 12 |" in table
    assert "5 (of 20)" in table
    assert "commit abc1234" in table and "Test CPU (AVX2)" in table  # one model name may have either ISA


def test_rerunning_some_models_keeps_the_other_rows(tmp_path):
    write_results([result("mlp", 0.97), result("lenet5", 0.98)], tmp_path)
    write_results([result("mlp", 0.975)], tmp_path)
    saved = json.loads((tmp_path / "reproduce.json").read_text())
    rows = saved["results"]
    assert saved["environment"]["commit"] and saved["environment"]["versions"]["torch"]
    assert [(r["model"], r["test_accuracy"]) for r in rows] == [("mlp", 0.975), ("lenet5", 0.98)]
    assert "97.50%" in (tmp_path / "reproduce.md").read_text()


def test_reproduce_trains_with_the_tutorial_recipe(idx_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(idx_data_dir))
    seen = []
    [row] = reproduce(["pytorch-example"], checkpoints=tmp_path, on_result=seen.append)
    assert seen == [row]
    assert (row.model, row.dataset, row.epochs, row.state) == ("pytorch-example", "mnist", 3, "completed")
    assert 0 <= row.test_accuracy <= 1 and row.seconds > 0
    config = json.loads((tmp_path / "reproduce-mnist-pytorch-example" / "config.json").read_text())
    assert (config["optimizer"], config["lr"], config["momentum"], config["batch_size"]) == ("sgd", 0.01, 0.5, 64)
