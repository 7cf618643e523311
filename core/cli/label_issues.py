"""``python -m core label-issues RUN``: the images whose given label is probably wrong, most likely first."""

from __future__ import annotations

from core.cli.common import add_data_dir, add_json, add_run, print_json
from core.config import ConfigError
from core.runs import load_run


def register(commands) -> None:
    issues = commands.add_parser("label-issues", help="rank the images whose given label is probably wrong")
    add_run(issues, "a run id or a run folder (its predictions are used)")
    issues.add_argument("--split", choices=["test", "val"], default="test")
    issues.add_argument("--top", type=int, default=20, help="how many to print (default 20)")
    issues.add_argument(
        "--mark",
        action="append",
        default=[],
        metavar="INDEX=VERDICT",
        help="record a verdict on an image's label (wrong, fine or clear), as the page does; repeatable",
    )
    add_json(issues, "a list of {index, given, suggested, score, flagged}, most likely first")
    add_data_dir(issues)
    issues.set_defaults(handler=run)


def run(args) -> int:
    from core.analysis import label_check_problem, label_issues
    from core.evaluate import split_predictions

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1 (got {args.top})")
    run_folder = load_run(args.run, args.checkpoints)
    if args.mark:
        return mark_verdicts(run_folder, args)
    predictions = split_predictions(run_folder, args.split, args.data_dir)
    ranking = label_issues(predictions.probs, predictions.labels)
    classes = run_folder.config.classes
    rows = [
        {
            "index": int(predictions.indices[row.row]),
            "given": classes[row.given],
            "suggested": classes[row.suggested],
            "score": round(float(row.score), 6),
            "flagged": bool(row.flagged),
        }
        for row in ranking.head(args.top).itertuples()
    ]
    if args.json:
        print_json(rows)
        return 0
    problem = label_check_problem(predictions.labels)
    if problem:
        print(
            f"{run_folder.id}, {args.split} split: no label check, {problem}. The {len(rows)} images whose label "
            "the model finds least likely (score: its probability):"
        )
    else:
        print(
            f"{run_folder.id}, {args.split} split: the {len(rows)} most likely label errors (lower score = more "
            f"likely); cleanlab counts {int(ranking['flagged'].sum())} in all, marked *"
        )
    width = max(len(repr(name)) for name in classes)
    for rank, row in enumerate(rows, start=1):
        given, suggested = repr(row["given"]), repr(row["suggested"])
        mark = "*" if row["flagged"] else " "
        print(
            f"{rank:>4}.{mark} index {row['index']:>5}  given {given:<{width}} → {suggested:<{width}}  "
            f"score {row['score']:.4f}"
        )
    return 0


def mark_verdicts(run_folder, args) -> int:
    """Record ``--mark INDEX=wrong|fine|clear`` in the dataset's verdicts file, as the page's buttons do."""
    from core.analysis import REVIEW_VERDICTS, label_reviews
    from core.data import default_data_dir, get_dataset_info

    verdicts = []
    for item in args.mark:
        index, _, verdict = item.partition("=")
        if not index.isdigit() or verdict not in (*REVIEW_VERDICTS, "clear"):
            raise ConfigError(f"--mark takes INDEX=wrong, INDEX=fine or INDEX=clear (got {item!r})")
        verdicts.append((int(index), None if verdict == "clear" else verdict))
    reviews = label_reviews(args.data_dir or default_data_dir(), get_dataset_info(run_folder.config.dataset))
    for index, verdict in verdicts:
        moved = reviews.mark(args.split, index, verdict)
        if moved is not None:
            print(f"the old verdicts file could not be read; it is kept as {moved}")
    print(f"{len(verdicts)} verdicts recorded in {reviews.path} ({args.split} split)")
    return 0
