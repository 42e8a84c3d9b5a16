"""``ist train ...`` and ``ist transfer``: the training commands of the ``ist`` CLI.

They import only torch, numpy, pandas, scipy, scikit-learn and tqdm, so that
``PYTHONPATH=. python3 -m ist_core train ...`` runs on a bare GPU machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .values import parse_pairs

COMPONENTS = ("encoder", "ist", "predictor")


def _setup(args, level=None, fold=None, seed=None):
    from .train import setup_fold

    return setup_fold(
        args.dataset, level=args.level if level is None else level,
        fold=args.fold if fold is None else fold, seed=args.seed if seed is None else seed,
        profile=args.profile, ist=parse_pairs(args.set, "--set"), device=args.device, amp=args.amp,
        runs=args.runs, **parse_pairs(args.knob, "--knob"),
    )


def cmd_train(args):
    from .train import train_encoder, train_ist

    setup = _setup(args)
    progress = not args.no_progress
    result = {"split": setup.split, "held_out": list(setup.fold.held_out), "seed": setup.seed,
              "profile": setup.profile.name, "device": str(setup.device)}
    if args.component == "encoder":
        train_encoder(setup, progress)
        result["run"] = str(setup.fold_level().run_dir("encoder"))
    elif args.component == "ist":
        train_ist(setup, progress=progress)
        result["run"] = str(setup.fold_level().run_dir("generator"))
    else:
        from .experiments import test_macro_f1
        from .methods import get_method

        method = get_method("baseline" if args.ist is None else "ist")
        kind = "naive" if args.ist is None else "ist"
        if args.ist not in (None, "fold"):
            import hashlib

            method.transfer = _load_generator(setup, Path(args.ist))
            method.tag = hashlib.sha1(str(Path(args.ist).resolve()).encode()).hexdigest()[:8]
            kind = f"ist-{method.tag}"
        method.fit(setup, progress)
        result["run"] = str(setup.run_dir(f"predictor-{kind}", args.ist is not None))
        _, predicted = method.outputs(setup.dataset.images[setup.fold.test])
        result["test_macro_f1"] = float(test_macro_f1(setup, predicted))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        line = f"{args.component} {result['split']} seed {result['seed']} ({result['profile']}, " \
               f"{result['device']}): {result['run']}"
        if "test_macro_f1" in result:
            line += f"\ntest macro-F1 on {', '.join(result['held_out']) or 'the IID hold-out'}: " \
                    f"{result['test_macro_f1']:.3f}"
        print(line)


def _load_generator(setup, folder: Path):
    """A finished generator run given by its folder; it must belong to this fold."""
    from .models import StyleTransfer
    from .train.ist import build_generator
    from .train.loop import CONFIG, is_done, load_modules
    from .train.pretrain import train_encoder
    from .train.runtime import freeze

    if not (folder / CONFIG).exists() or not is_done(folder):
        raise ValueError(f"--ist {folder}: not a finished generator run (no {CONFIG} and done.json); "
                         "train one with `ist train ist`, or give --ist without a folder")
    stored = json.loads((folder / CONFIG).read_text())
    mine = setup.fold_level().config("generator", setup.profile.ist_steps)
    keys = ("component", "dataset", "level", "fold", "held_out", "profile", "ist")
    differs = [k for k in keys if stored.get(k) != json.loads(json.dumps(mine[k], default=str))]
    if differs:
        raise ValueError(f"--ist {folder}: that generator was trained for another fold or setting "
                         f"(differs in {differs}); pass the same --dataset/--level/--fold/--profile/--set")
    encoder = train_encoder(setup, progress=False)
    gen, critic = build_generator(setup.fold_level(), encoder)
    load_modules(folder, {"generator": gen, "critic": critic}, map_location=setup.device)
    return freeze(StyleTransfer(encoder, freeze(gen)))


def cmd_ood(args):
    """Naive vs IST predictor over levels, folds and seeds: the grid of ``ist run`` with
    those two rows (the same runs); a tidy CSV and a summary."""
    from .experiments import plan
    from .runner import run_grid

    grid = plan([args.dataset], ["baseline", "ist"], args.levels, args.folds, args.seeds,
                args.profile, ist=parse_pairs(args.set, "--set"), device=args.device, runs=args.runs,
                **parse_pairs(args.knob, "--knob"))
    scores = run_grid(grid, progress=not args.no_progress, log=lambda line: print(line, flush=True))
    scores = (scores[scores["metric"] == "macro_f1"].replace({"method": {"baseline": "naive"}})
              .reset_index(drop=True))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        scores.to_csv(out, index=False)
    if args.save:
        from .results import write_summary

        print(f"saved {write_summary(scores, args.dataset, args.profile, 'ist-ood')}")
    summary = scores.pivot_table(index="level", columns="method", values="value",
                                 aggfunc=["mean", "std", "count"])
    print(summary.round(3).to_string())


def cmd_run(args):
    """The Table 1 grid: train what is missing, print a summary, optionally store it."""
    from .experiments import pending, plan, provenance, summary
    from .results import run_settings
    from .runner import parse_shard, run_grid, shard

    if args.check:
        return _check()
    part = parse_shard(args.shard) if args.shard else None
    if part and args.save:
        raise ValueError("--save with --shard would store a part of the grid as the whole; run "
                         "the shards, gather their --runs folders into one, then run the same "
                         "command there without --shard, with --no-train --save")
    grid = plan(args.dataset, args.methods, args.levels, args.folds, args.seeds, args.profile,
                ist=parse_pairs(args.set, "--set"), device=args.device, runs=args.runs,
                spread=args.spread, **parse_pairs(args.knob, "--knob"))
    settings = run_settings(args.knob, args.set)
    if args.add:  # refused before anything trains, not after
        from .results import check_addable, code_hash

        if not args.save:
            raise ValueError("--add joins the runs to a stored summary: name it with --save NAME")
        for name in args.dataset:
            check_addable(name, args.profile, args.save,
                          {"code": {code_hash(): 0}, "profile": grid.profile,
                           "data_seed": grid.data_seed, "settings": settings})
    whole = len(grid.runs)
    if part:
        grid = shard(grid, *part)
    print(f"{len(grid.runs)} run(s): {', '.join(args.dataset)} x {', '.join(args.methods)} "
          f"({args.profile})" + (f", shard {part[0]}/{part[1]} of {whole}" if part else ""),
          flush=True)
    scores = run_grid(grid, workers=args.workers, progress=not args.no_progress,
                      log=lambda line: print(line, flush=True), train=not args.no_train)
    waiting = pending(grid)
    not_run = [run for run, what in waiting.items() if what == ["not run"]]
    if not_run:
        print(f"{len(not_run)} run(s) not trained (--no-train), e.g. {not_run[0]}")
    needs = {run: what for run, what in waiting.items() if what != ["not run"]}
    if needs:
        kinds = sorted({p for ps in needs.values() for p in ps})
        print(f"{len(needs)} run(s) wait for: {', '.join(kinds)}; run the same command where "
              "those are installed to complete them from the stored features")
    if args.save:
        from .results import add_to_summary, write_summary

        for name, frame in scores.groupby("dataset"):
            trained = {**provenance(grid, name), "settings": settings}
            if args.add:
                frame, trained = add_to_summary(frame, trained, name, args.profile, args.save)
            print(f"saved {write_summary(frame, name, args.profile, args.save, provenance=trained)}")
    if not scores.empty:
        print(summary(scores).to_string())


def _check() -> int:
    """``ist run --check``: the stored summaries not trained by today's code; exit 1 if any."""
    from .results import code_hash, describe_status, results_dir, stale_summaries

    stale = stale_summaries()
    for path, status in stale:
        print(f"{path.relative_to(results_dir().parent)}: {describe_status(status)}")
    print(f"{len(stale)} stored summar{'y' if len(stale) == 1 else 'ies'} not (wholly) trained by "
          f"today's code ({code_hash()})" if stale else
          f"every stored summary was trained by today's code ({code_hash()})")
    return 1 if stale else 0


def cmd_ablation(args):
    """IST with its full objective and without each loss term in turn, at one fold and seed:
    the fidelity scores of every variant, optionally stored with their provenance."""
    from .ablation import ablation_table, loss_term_ablation
    from .results import code_hash

    setup = _setup(args)
    table = loss_term_ablation(setup, terms=tuple(args.terms), n_pairs=args.pairs, seed=args.seed,
                               progress=not args.no_progress)
    table = table.assign(level=str(args.level), fold=args.fold, seed=args.seed)
    if args.save:
        from .results import write_summary

        variants = table["variant"].nunique()  # one generator each, all trained by this code
        meta = {"profile": setup.profile.name, "folds": {args.dataset: {str(args.level): [args.fold]}},
                "seeds": [args.seed], "held_out": list(setup.fold.held_out), "pairs": args.pairs,
                "runs": variants, "code": {code_hash(): variants}}
        print(f"saved {write_summary(table, args.dataset, args.profile, 'loss-ablation', provenance=meta)}")
    print(ablation_table(table).to_string())


def cmd_transfer(args):
    from .train import train_ist, transfer

    setup = _setup(args)
    model = train_ist(setup, progress=not args.no_progress)
    content = _images(setup, args.content)
    style = _images(setup, args.style)
    out = transfer(setup, model, content, style)
    np.save(args.out, out)
    print(f"{len(out)} image(s) re-rendered, {out.shape[1:]} each: {args.out}")


def _images(setup, spec: list[str]) -> np.ndarray:
    """Images named by dataset indices (``3 17 42``) or by one ``.npy`` file."""
    if len(spec) == 1 and spec[0].endswith(".npy"):
        return np.load(spec[0])
    try:
        idx = np.array([int(s) for s in spec])
    except ValueError:
        raise ValueError(f"give image indices of the dataset or one .npy file, got {spec}") from None
    n = len(setup.dataset.images)
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"image indices must lie in 0..{n - 1}")
    return np.asarray(setup.dataset.images[idx])


def _common(p, level_required: bool = True, many_datasets: bool = False):
    from .profiles import PROFILES

    if many_datasets:
        p.add_argument("--dataset", nargs="+", default=["synthetic-grid"],
                       help="one or more dataset names (default synthetic-grid)")
    else:
        p.add_argument("--dataset", default="synthetic-grid", help="dataset name (default synthetic-grid)")
    if level_required:
        p.add_argument("--level", default="iid", help="iid, 1, 2 or 3 (default iid)")
        p.add_argument("--fold", type=int, default=0, help="fold of the level (default 0)")
        p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--profile", default="quick", choices=list(PROFILES))
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="IST setting, e.g. oe_level=well or style=2 (repeatable)")
    p.add_argument("--knob", action="append", metavar="KEY=VALUE",
                   help="synthetic generator knob (repeatable)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    p.add_argument("--amp", action="store_true", default=None,
                   help="bf16 autocast (default: on for CUDA, off for the CPU)")
    p.add_argument("--runs", default=None, help="runs folder (default $IST_RUNS_DIR or runs/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_parsers(sub) -> None:
    """Register ``train`` and ``transfer`` on the ``ist`` command's subparsers."""
    train = sub.add_parser("train", help="train a network of one fold (resumes a broken run)")
    tsub = train.add_subparsers(dest="train_command", required=True)
    for name in COMPONENTS:
        helps = {"encoder": "pretrain the encoder E (predict OE and cause)",
                 "ist": "train IST's generator G against the critic D (trains E first if needed)",
                 "predictor": "train the naive predictor, or with --ist the IST predictor; "
                              "prints its test macro-F1"}
        p = tsub.add_parser(name, help=helps[name])
        _common(p)
        if name == "predictor":
            p.add_argument("--ist", nargs="?", const="fold", default=None, metavar="RUN",
                           help="train on IST's interventional distribution: with no value, the "
                                "fold's own generator (trained first if needed); or the folder of "
                                "a finished generator run of the same fold")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=cmd_train, component=name)
    p = tsub.add_parser("ood", help="naive vs IST predictor over levels, folds and seeds")
    _common(p, level_required=False)
    p.add_argument("--levels", nargs="+", default=["iid", "1", "2", "3"])
    p.add_argument("--folds", nargs="+", type=int, default=[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--out", default=None, help="write the tidy scores to this CSV")
    p.add_argument("--save", action="store_true",
                   help="store the scores with their provenance as results/<dataset>/<profile>/"
                        "ist-ood.csv")
    p.set_defaults(func=cmd_ood)

    from .methods import METHODS

    p = sub.add_parser("run", help="the Table 1 grid: datasets x methods x levels x folds x seeds")
    _common(p, level_required=False, many_datasets=True)
    p.add_argument("--methods", nargs="+", default=list(METHODS),
                   help=f"Table 1 rows (default all): {', '.join(METHODS)}")
    p.add_argument("--levels", nargs="+", default=None,
                   help="iid, 1, 2, 3 (default: every level each dataset has)")
    p.add_argument("--folds", nargs="+", type=int, default=[0])
    p.add_argument("--spread", type=int, default=None, metavar="K",
                   help="instead of --folds: K folds per level, spread evenly over the design "
                        "(on LINCS-like designs level 2 then covers both kinds of plate)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--workers", type=int, default=1,
                   help="train this many runs at once, one thread each (CPU; default 1)")
    p.add_argument("--save", nargs="?", const="table1", default=None, metavar="NAME",
                   help="store the scores with their provenance as results/<dataset>/<profile>/"
                        "NAME.csv (default table1; what the chapters read when the grid is too "
                        "big to run)")
    p.add_argument("--add", action="store_true",
                   help="with --save: join these runs to the stored summary of that name "
                        "(e.g. more seeds trained on another day or machine) instead of "
                        "replacing it; refused when the two were trained by other code, "
                        "profile or settings")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing: complete LISI and Symphony kNN from stored features "
                        "(e.g. of runs made on a GPU machine) and report what is finished")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="train only the K-th of N deterministic parts of the grid (whole folds), "
                        "e.g. one task of a SLURM array; gather the --runs folders, then --save "
                        "with --no-train")
    p.add_argument("--check", action="store_true",
                   help="list the stored summaries under results/ whose runs were trained by "
                        "other code than this checkout's (exit 1 if any); trains nothing")
    p.set_defaults(func=cmd_run)

    from .ablation import LOSS_TERMS

    p = sub.add_parser("ablation", help="IST without each of its loss terms at one fold and seed: "
                                        "fidelity of each variant")
    _common(p)
    p.add_argument("--terms", nargs="+", default=list(LOSS_TERMS), choices=list(LOSS_TERMS),
                   help="loss terms to drop one at a time (default all five)")
    p.add_argument("--pairs", type=int, default=64, help="content/style pairs scored (default 64)")
    p.add_argument("--save", action="store_true",
                   help="store the scores with their provenance as results/<dataset>/<profile>/"
                        "loss-ablation.csv")
    p.set_defaults(func=cmd_ablation)

    p = sub.add_parser("transfer", help="re-render images in the style of others with a fold's IST")
    _common(p)
    p.add_argument("--content", nargs="+", required=True, help="dataset indices or a .npy file")
    p.add_argument("--style", nargs="+", required=True,
                   help="dataset indices or a .npy file: one style image, or one per content image")
    p.add_argument("--out", required=True, help="output .npy file (N, C, H, W)")
    p.set_defaults(func=cmd_transfer)
