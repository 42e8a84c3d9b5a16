"""The ``ist`` command: data, diagnostics, splits, training, style transfer and the book."""

from __future__ import annotations

import argparse
import json
import sys

from .data import DATASETS, MetadataError
from .splits import LEVEL_NAMES
from .values import parse_pairs


def parse_knobs(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings as a dict of generator knobs (numbers where they parse)."""
    return parse_pairs(pairs, "--knob")


def _load(args):
    from .data import load_dataset

    knobs = parse_knobs(args.knob)
    if args.name in ("grid", "lincs-sc") and (knobs or args.size != "quick"):
        raise ValueError("--size and --knob apply to the synthetic datasets only")
    return load_dataset(args.name, size=args.size, seed=args.seed, **knobs)


def _print(result, as_json: bool, text: str):
    print(json.dumps(result, indent=2) if as_json else text)


def cmd_describe(args):
    from .data.design import describe

    info = describe(_load(args))
    lines = [
        f"{info['name']}: {info['images']} images, channels {', '.join(info['channels'])}, "
        f"{info['image_size'][0]}x{info['image_size'][1]} px",
        f"causes: {info['causes']} ({info['units']} {info['unit']}s)",
        "OEs per level: " + ", ".join(f"{k} {v}" for k, v in info["oes_per_level"].items()),
        "cells per cause: " + ", ".join(f"{k} {v}" for k, v in info["cells_per_cause"].items()),
        "sparsity (fraction of empty cause x OE cells): "
        + ", ".join(f"cause x {k} {v:.2f}" for k, v in info["sparsity"].items()),
    ]
    _print(info, args.json, "\n".join(lines))


def cmd_fetch(args):
    from .data.zenodo import fetch_dataset

    path = fetch_dataset(args.name, data_dir=args.data_dir)
    print(f"{args.name}: store ready at {path}")


def cmd_diagnose(args):
    from .diagnostics import diagnose, format_diagnostics

    result = diagnose(_load(args), seed=args.seed)
    _print(result, args.json, format_diagnostics(result))


def cmd_splits(args):
    from .splits import make_folds

    dataset = _load(args)
    folds = [f.summary() for f in make_folds(dataset.meta, args.level, seed=args.seed)]
    lines = [f"{dataset.name}, level {args.level}: {len(folds)} fold(s)"]
    for f in folds:
        held = ", ".join(f["held_out"]) or "random 20%"
        lines.append(f"  fold {f['fold']:>3}: held out {held:<12} train {f['n_train']:>6}  "
                     f"test {f['n_test']:>6}  (dropped {f['dropped']}: cause unseen in training)")
    _print(folds, args.json, "\n".join(lines))


def cmd_book_run(args):
    from .book import run_book

    # values stay text: the runner casts each to the type of the chapter's default
    params = dict(args.parameter or [])
    out = run_book(profile=args.profile, parameters=params, chapters=args.chapter,
                   build=not args.no_build, jobs=args.jobs)
    print(f"executed notebooks in {out}" if args.no_build else f"HTML in {out}")


def cmd_book_build(args):
    from .book import build_book

    print(f"HTML in {build_book()}")


def cmd_book_sync(args):
    from .chapters import sync_notebooks

    changed = sync_notebooks(check=args.check)
    if args.check and changed:
        raise RuntimeError(f"paired notebooks out of sync: {[str(p) for p in changed]}; "
                           "run `ist book sync`")
    print(f"{len(changed)} paired notebook(s) {'out of sync' if args.check else 'written'}")


def _dataset_args(p):
    p.add_argument("name", help=f"dataset: one of {', '.join(DATASETS)}")
    p.add_argument("--size", default="quick", help="synthetic size: tiny, quick or paper")
    p.add_argument("--seed", type=int, default=0, help="generator and split seed")
    p.add_argument("--knob", action="append", metavar="KEY=VALUE",
                   help="synthetic generator knob, e.g. oe_shift=2 or nuisance=0.5 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ist", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="describe or fetch datasets").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("describe", help="images, causes, OEs per level, sparsity")
    _dataset_args(p)
    p.set_defaults(func=cmd_describe)
    p = data.add_parser("fetch", help="download and convert GRID or LINCS-SC from Zenodo")
    p.add_argument("name", choices=["grid", "lincs-sc"])
    p.add_argument("--data-dir", default=None, help="cache folder (default: $IST_DATA_DIR or data/)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("diagnose", help="shortcut diagnostics: is the batch easier than the biology?")
    _dataset_args(p)
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("splits", help="list the folds of a level of generalization")
    _dataset_args(p)
    p.add_argument("--level", required=True, help=f"one of {', '.join(LEVEL_NAMES)}")
    p.set_defaults(func=cmd_splits)

    from .commands import add_parsers as add_train_parsers

    add_train_parsers(sub)

    book = sub.add_parser("book", help="execute and build the book").add_subparsers(
        dest="book_command", required=True)
    p = book.add_parser("run", help="execute every chapter with papermill, then build the HTML")
    p.add_argument("--profile", default="quick", help="tiny, quick or paper")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="chapter parameter passed to papermill (repeatable)")
    p.add_argument("--chapter", action="append", metavar="NAME",
                   help="run only this chapter, e.g. data (repeatable)")
    p.add_argument("--no-build", action="store_true", help="execute only")
    p.add_argument("--jobs", type=int, default=None,
                   help="chapters run at once, after the live runs they share (default: the "
                        "chapters' workers on a CPU, 1 on a GPU); 1 when live_methods is emptied")
    p.set_defaults(func=cmd_book_run)
    p = book.add_parser("build", help="build the HTML from already executed chapters")
    p.set_defaults(func=cmd_book_build)
    p = book.add_parser("sync", help="write the paired, output-free book/*.ipynb from book/*.md")
    p.add_argument("--check", action="store_true", help="only report notebooks out of sync")
    p.set_defaults(func=cmd_book_sync)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except (ValueError, MetadataError, OSError, RuntimeError) as err:
        print(f"ist: error: {err}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
