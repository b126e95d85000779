"""MkDocs hook: pages that are generated from the code itself, so they cannot drift from it.

- `<!-- cnnfeat: cli-reference -->` becomes `cnnfeat --help` and `cnnfeat COMMAND --help` for
  every command the program has, rendered by Click exactly as the terminal shows them.
- `<!-- cnnfeat: api-reference -->` becomes one mkdocstrings block per name of `cnnfeat.__all__`
  (the public surface; where each name is defined inside the package does not matter).
- `<!-- cnnfeat: model-card-scores -->` becomes the shipped model's per-class and per-seed
  scores, read from its card (`cnnfeat.json`, what `cnnfeat info` prints).
"""

from __future__ import annotations

import inspect
import json
from importlib.resources import files
from typing import Any

CLI_MARKER = "<!-- cnnfeat: cli-reference -->"
API_MARKER = "<!-- cnnfeat: api-reference -->"
CARD_MARKER = "<!-- cnnfeat: model-card-scores -->"
SHIPPED = "meld-glove6b50d"
WIDTH = 100


def cli_reference() -> str:
    import typer

    from cnnfeat.cli import app

    # Typer's own Click (typer 0.29 vendors it): contexts are made by the commands' classes.
    group: Any = typer.main.get_command(app)
    root = group.context_class(
        group, info_name="cnnfeat", terminal_width=WIDTH, max_content_width=WIDTH
    )
    parts = ["## `cnnfeat`", "", "```text", group.get_help(root), "```", ""]
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is None or command.hidden:
            continue
        ctx = command.context_class(
            command, info_name=name, parent=root, terminal_width=WIDTH, max_content_width=WIDTH
        )
        parts += [f"## `cnnfeat {name}`", "", "```text", command.get_help(ctx), "```", ""]
    return "\n".join(parts)


def api_reference() -> str:
    import cnnfeat

    parts = []
    documented = [(name, getattr(cnnfeat, name)) for name in cnnfeat.__all__]
    documented = [(n, o) for n, o in documented if inspect.isclass(o) or inspect.isfunction(o)]
    # What a caller uses first (functions, Embedder, ModelSpec), then the errors.
    documented.sort(key=lambda item: inspect.isclass(item[1]) and issubclass(item[1], Exception))
    for name, obj in documented:
        parts += [
            f"::: {obj.__module__}.{obj.__qualname__}",
            "    options:",
            f'      heading: "cnnfeat.{name}"',
            "      heading_level: 2",
            "",
        ]
    return "\n".join(parts)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def model_card_scores() -> str:
    card = json.loads(files("cnnfeat.models").joinpath(SHIPPED, "cnnfeat.json").read_text("utf-8"))
    metrics = card["metrics"]
    parts = ["| split | weighted-F1 | macro-F1 | accuracy | utterances |", "|---|---|---|---|---|"]
    for split in ("dev", "test"):
        m = metrics[split]
        parts.append(
            f"| {split} | {_pct(m['weighted_f1'])} | {_pct(m['macro_f1'])} "
            f"| {_pct(m['accuracy'])} | {m['support']:,} |"
        )
    parts += [
        "",
        "Per class (precision / recall / F1, in %; support in utterances):",
        "",
        "| class | test P / R / F1 | test support | dev P / R / F1 | dev support |",
        "|---|---|---|---|---|",
    ]
    for name in card["spec"]["label_names"]:
        cells = []
        for split in ("test", "dev"):
            c = metrics[split]["per_class"][name]
            cells += [
                f"{_pct(c['precision'])} / {_pct(c['recall'])} / {_pct(c['f1'])}",
                str(c["support"]),
            ]
        parts.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = card["seeds"]
    parts += [
        "",
        "The release's seeds (weighted-F1 in %, macro-F1 of the head on test; the shipped run is "
        f"seed {seeds['shipped_seed']}, the median on dev). The probes are `cnnfeat evaluate "
        "--context` on each seed's features (MELD test, early stopping on dev, probe seeds "
        f"{', '.join(map(str, seeds['probe_seeds']))}):",
        "",
        "| seed | head dev | head test | head test macro-F1 | utterance-only probe | "
        "context probe | gain | kept epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in seeds["runs"]:
        mark = "**" if run["seed"] == seeds["shipped_seed"] else ""
        alone, context = (
            run["utterance_probe_test_weighted_f1"],
            run["context_probe_test_weighted_f1"],
        )
        parts.append(
            f"| {mark}{run['seed']}{mark} | {_pct(run['dev_weighted_f1'])} "
            f"| {_pct(run['test_weighted_f1'])} | {_pct(run['test_macro_f1'])} | {_pct(alone)} "
            f"| {_pct(context)} | {100 * (context - alone):+.2f} | {run['best_epoch']} |"
        )

    def spread(name: str) -> str:
        return f"{_pct(seeds[name + '_mean'])} ± {_pct(seeds[name + '_std'])}"

    parts.append(
        f"| mean ± std | | {spread('test_weighted_f1')} | {spread('test_macro_f1')} "
        f"| {spread('utterance_probe_test_weighted_f1')} "
        f"| {spread('context_probe_test_weighted_f1')} | {spread('context_gain')} | |"
    )
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if API_MARKER in markdown:
        markdown = markdown.replace(API_MARKER, api_reference())
    if CARD_MARKER in markdown:
        markdown = markdown.replace(CARD_MARKER, model_card_scores())
    return markdown
