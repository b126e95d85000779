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
        "The release's seeds (weighted-F1 in %; the shipped run is seed "
        f"{seeds['shipped_seed']}, the median on test):",
        "",
        "| seed | dev | test | kept epoch |",
        "|---|---|---|---|",
    ]
    for run in seeds["runs"]:
        mark = "**" if run["seed"] == seeds["shipped_seed"] else ""
        parts.append(
            f"| {mark}{run['seed']}{mark} | {_pct(run['dev_weighted_f1'])} "
            f"| {_pct(run['test_weighted_f1'])} | {run['best_epoch']} |"
        )
    parts.append(
        f"| mean ± std | | {_pct(seeds['test_weighted_f1_mean'])} ± "
        f"{_pct(seeds['test_weighted_f1_std'])} | |"
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
