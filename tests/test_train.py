"""Training: resume after a kill, NaN stop, the bf16 path on the CPU, samplers, the wiring
of the IST step, and the training command on a machine with only the GPU image's packages."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ist_core.profiles import get_profile
from ist_core.train import NonFiniteLoss, setup_fold, train_encoder, train_ist, train_predictor
from ist_core.train import ist as ist_module
from ist_core.train.loop import CHECKPOINT, DONE, fit, load_modules
from ist_core.train.runtime import FoldImages

ROOT = Path(__file__).resolve().parents[1]
# what the GPU machine's image lacks: the training path must not import any of it
BLOCKED = ("pooch", "requests", "jupytext", "papermill", "nbformat", "IPython", "umap",
           "harmonypy", "symphonypy", "daft", "seaborn", "yaml", "playwright", "skimage",
           "jupyter_book", "numba")


def _env(runs):
    return {**os.environ, "IST_RUNS_DIR": str(runs), "PYTHONPATH": str(ROOT),
            "CUDA_VISIBLE_DEVICES": ""}


def _train_cmd(*extra):
    return [sys.executable, "-m", "ist_core", "train", "ist", "--profile", "tiny", "--level", "2",
            "--fold", "1", "--no-progress", *extra]


def _generator_weights(runs):
    folder = Path(runs) / "synthetic-grid" / "tiny" / "generator" / "level2-fold1" / "seed0"
    state = torch.load(folder / CHECKPOINT, weights_only=True)
    return folder, state


@pytest.mark.slow
def test_a_killed_run_resumes_and_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run(_train_cmd(), env=_env(whole), check=True, capture_output=True, cwd=ROOT)

    # start again elsewhere and kill -9 the process once the generator has a checkpoint
    proc = subprocess.Popen(_train_cmd(), env=_env(broken), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = broken / "synthetic-grid" / "tiny" / "generator" / "level2-fold1" / "seed0"
    deadline = time.time() + 120
    while not (folder / CHECKPOINT).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (folder / CHECKPOINT).exists() and not (folder / DONE).exists(), "not killed mid-run"
    killed_at = torch.load(folder / CHECKPOINT, weights_only=True)["step"]
    assert 0 < killed_at < get_profile("tiny").ist_steps

    subprocess.run(_train_cmd(), env=_env(broken), check=True, capture_output=True, cwd=ROOT)
    _, a = _generator_weights(whole)
    _, b = _generator_weights(broken)
    assert a["step"] == b["step"] == get_profile("tiny").ist_steps
    for name in ("generator", "critic"):
        for key, value in a["modules"][name].items():
            assert torch.equal(value, b["modules"][name][key]), f"{name}.{key} differs"
    # the loss log continues rather than restarting
    steps = [row["step"] for row in b["log"]]
    assert steps == sorted(set(steps)) and steps[-1] == get_profile("tiny").ist_steps


def test_a_finished_run_is_loaded_not_trained_again(tmp_path):
    setup = setup_fold("synthetic-grid", level="iid", profile="tiny", runs=tmp_path)
    enc = train_encoder(setup, progress=False)
    stamp = (setup.run_dir("encoder") / CHECKPOINT).stat().st_mtime_ns
    again = train_encoder(setup, progress=False)
    assert (setup.run_dir("encoder") / CHECKPOINT).stat().st_mtime_ns == stamp
    for a, b in zip(enc.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_a_run_folder_with_another_config_is_refused(tmp_path):
    setup = setup_fold("synthetic-grid", level="iid", profile="tiny", runs=tmp_path)
    train_encoder(setup, progress=False)
    setup.profile = get_profile("tiny", lr=0.5)
    (setup.run_dir("encoder") / DONE).unlink()
    with pytest.raises(RuntimeError, match="another configuration.*lr|profile"):
        train_encoder(setup, progress=False)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step(i):
        loss = net(torch.ones(1, 2)).sum() ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"mse": loss * (float("nan") if i == 13 else 1.0)}

    with pytest.raises(NonFiniteLoss, match=r"\['mse'\] became nan by step 15.*step 10"):
        fit(tmp_path, {"x": 1}, {"net": net}, {"net": opt}, step, steps=30, checkpoint_every=10,
            log_every=5, progress=False)
    state = load_modules(tmp_path, {"net": torch.nn.Linear(2, 1)})
    assert state["step"] == 10
    assert all(torch.isfinite(v).all() for v in state["modules"]["net"].values())
    assert not (tmp_path / DONE).exists()


def test_bf16_autocast_path_runs_on_the_cpu(tmp_path):
    setup = setup_fold("synthetic-grid", level="iid", profile=get_profile(
        "tiny", encoder_steps=4, ist_steps=4, predictor_steps=4, checkpoint_every=2),
        runs=tmp_path, amp=True, device="cpu")
    transfer = train_ist(setup, progress=False)
    predictor = train_predictor(setup, transfer, progress=False)
    rows = json.loads((setup.run_dir("generator") / "done.json").read_text())
    assert rows["steps"] == 4
    x = torch.as_tensor(np.array(setup.dataset.images[:4]))
    out = transfer(x, x.flip(0))
    assert out.shape == x.shape and not torch.equal(out.float(), x)  # trained G changed them
    assert torch.isfinite(out.float()).all() and torch.isfinite(predictor(x)).all()


def test_samplers_balance_causes_and_oes():
    # 90 images of OE 0 and cause 0, 10 of OE 1 and cause 1
    y = np.r_[np.zeros(90), np.ones(10)].astype(int)
    data = FoldImages(np.zeros((100, 1, 32, 32), np.float32), y, y, ["a", "b"], torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    for by in ("y", "oe"):
        idx = data.sample(4000, by, gen)
        share = (torch.as_tensor(y)[idx] == 1).float().mean()
        assert 0.45 < share < 0.55
    uniform = data.sample(4000, None, gen)
    assert (torch.as_tensor(y)[uniform] == 1).float().mean() < 0.2


def test_the_ist_step_targets_the_real_images_prediction_and_cycles_with_its_own_style(
        tmp_path, monkeypatch):
    setup = setup_fold("synthetic-grid", level="2", fold=0, profile=get_profile(
        "tiny", ist_steps=2, checkpoint_every=2), runs=tmp_path)
    encoder = train_encoder(setup, progress=False)
    seen = []
    original = ist_module.generator_terms

    def spy(enc, gen, critic, content, feats_content, code_content, probs_content, *rest, **kw):
        with torch.no_grad():
            expected = torch.softmax(enc.cause_logits(enc.features(content)), dim=1)
        seen.append((probs_content.clone(), expected, code_content,
                     ist_module.style_code(enc.features(content))))
        calls = []
        real_forward = gen.forward

        def recording(feats, style):
            calls.append(style)
            return real_forward(feats, style)

        gen.forward = recording
        try:
            terms = original(enc, gen, critic, content, feats_content, code_content, probs_content,
                             *rest, **kw)
        finally:
            del gen.forward
        seen[-1] += (calls,)
        return terms

    monkeypatch.setattr(ist_module, "generator_terms", spy)
    train_ist(setup, encoder, progress=False)
    assert len(seen) == 2
    for probs, expected, code_content, own_code, calls in seen:
        assert torch.allclose(probs, expected, atol=1e-5)  # E_cls on the real content image
        assert (probs.max(1).values < 0.999).any()  # soft, not the one-hot label
        assert torch.allclose(code_content, own_code, atol=1e-5)
        assert len(calls) == 1 and calls[0] is code_content  # the cycle uses v of the content


def test_the_content_term_of_an_untrained_generator_charges_no_pixels():
    """The untrained generator is moment matching; eq. 5's pixel part is measured from
    there, so its only cost is the feature part (the raw content image would charge the
    whole change of intensity)."""
    from ist_core.models import Critic, Encoder, Generator
    from ist_core import losses

    torch.manual_seed(0)
    enc = Encoder(3, n_oes=4, n_causes=3, width=8, image_size=32).eval()
    gen, critic = Generator(enc.channels, 8), Critic.from_encoder(enc, 4)
    g = torch.Generator().manual_seed(1)
    xa = torch.rand(4, 3, 32, 32, generator=g) * 0.3
    xb = 0.3 + torch.rand(4, 3, 32, 32, generator=g) * 0.6
    with torch.no_grad():
        ua, ub = enc.features(xa), enc.features(xb)
        va, vb = ist_module.style_code(ua), ist_module.style_code(ub)
        pa = torch.softmax(enc.cause_logits(ua), dim=1)
        terms = ist_module.generator_terms(enc, gen, critic, xa, ua, va, pa, ub, vb,
                                           torch.zeros(4, dtype=torch.long))
        out = gen(ua, vb)
        feats_out = enc.features(out)
        feature_part = losses.content_loss(xa, xa, feats_out, ua)  # pixels equal: features only
        raw = losses.content_loss(out, xa, feats_out, ua)
    assert torch.isclose(terms["content"], feature_part, atol=1e-5)
    assert raw - feature_part > 0.1  # what the raw content image would have charged


def test_ist_training_with_the_r1_penalty_runs_and_logs_it(tmp_path):
    setup = setup_fold("synthetic-grid", level="2", fold=0, profile=get_profile(
        "tiny", ist_steps=4, checkpoint_every=2, log_every=2), ist={"r1": 1.0}, runs=tmp_path)
    encoder = train_encoder(setup, progress=False)
    train_ist(setup, encoder, progress=False)
    import pandas as pd

    log = pd.read_csv(setup.run_dir("generator") / "losses.csv")
    assert "r1" in log.columns and len(log) == 2
    assert np.isfinite(log["r1"]).all() and (log["r1"] > 0).all()
    assert "generator-" in str(setup.run_dir("generator"))  # its own run folder (settings hash)


def test_one_generator_per_training_fold_never_sees_the_held_out_oe(tmp_path):
    setup = setup_fold("synthetic-grid", level="2", fold=1, profile="tiny", runs=tmp_path)
    held = set(setup.fold.held_out)
    assert held and not held & set(setup.images().oe_names)
    trained_on = set(setup.dataset.meta.iloc[setup.fold.train]["plate"])
    assert not held & trained_on


BLOCKER = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    f"        if name.split('.')[0] in {BLOCKED!r}:\n"
    "            raise ImportError(f'{name} is not installed on the GPU machine')\n"
    "sys.meta_path.insert(0, Block())\n"
)


@pytest.mark.slow
def test_the_training_command_runs_with_only_the_gpu_images_packages(tmp_path):
    # the blocker works: a package of the book stack cannot be imported under it
    probe = subprocess.run([sys.executable, "-c", BLOCKER + "import yaml"], capture_output=True,
                           text=True)
    assert probe.returncode != 0 and "not installed on the GPU machine" in probe.stderr

    command = BLOCKER + (
        "import runpy\n"
        "sys.argv = ['ist_core', 'train', 'predictor', '--ist', '--profile', 'tiny', '--level', '1',"
        " '--no-progress', '--json']\n"
        "runpy.run_module('ist_core', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", command], env=_env(tmp_path), cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["split"] == "level1-fold0" and 0 <= result["test_macro_f1"] <= 1


@pytest.mark.parametrize("argv,message", [
    (["train", "ist", "--profile", "huge"], "invalid choice: 'huge'"),
    (["train", "encoder", "--profile", "tiny", "--level", "2", "--fold", "99"], "choose --fold 0.."),
    (["train", "encoder", "--profile", "tiny", "--dataset", "synthetic-lincs", "--level", "1"],
     "level 1 (leave one section out) is not defined"),
    (["train", "ist", "--profile", "tiny", "--set", "gamma=2"], "unknown IST setting"),
    (["train", "ist", "--profile", "tiny", "--set", "style_layers=2.5"], "IST setting 'style_layers' expects an int"),
    (["train", "ist", "--profile", "tiny", "--set", "oe_level=building"], "no OE level 'building'"),
    (["train", "predictor", "--profile", "tiny", "--dataset", "mnist"], "unknown dataset 'mnist'"),
])
def test_training_commands_refuse_bad_input_before_training(argv, message, tmp_path, capsys,
                                                            monkeypatch):
    from ist_core.cli import main

    monkeypatch.setenv("IST_RUNS_DIR", str(tmp_path))
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not any(tmp_path.rglob("checkpoint.pt"))


def test_transfer_command_writes_the_re_rendered_images(tmp_path, monkeypatch, capsys):
    from ist_core.cli import main

    monkeypatch.setenv("IST_RUNS_DIR", str(tmp_path))
    out = tmp_path / "out.npy"
    assert main(["transfer", "--profile", "tiny", "--level", "2", "--content", "0", "5", "9",
                 "--style", "100", "--out", str(out), "--no-progress"]) == 0
    images = np.load(out)
    assert images.shape == (3, 3, 32, 32) and np.isfinite(images).all()
    assert main(["transfer", "--profile", "tiny", "--level", "2", "--content", "0", "5",
                 "--style", "1", "2", "3", "--out", str(out), "--no-progress"]) == 2
    assert "one style image or one per content image" in capsys.readouterr().err


def test_predictor_takes_a_generator_run_of_the_same_fold_and_refuses_another(
        tmp_path, monkeypatch, capsys):
    from ist_core.cli import main

    monkeypatch.setenv("IST_RUNS_DIR", str(tmp_path))
    base = ["--profile", "tiny", "--level", "2", "--fold", "1", "--no-progress"]
    assert main(["train", "ist", *base]) == 0
    generator = tmp_path / "synthetic-grid" / "tiny" / "generator" / "level2-fold1" / "seed0"
    capsys.readouterr()
    assert main(["train", "predictor", "--ist", str(generator), *base, "--seed", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "predictor-ist-" in result["run"] and "seed1" in result["run"]
    other = ["--profile", "tiny", "--level", "2", "--fold", "0", "--no-progress"]
    assert main(["train", "predictor", "--ist", str(generator), *other]) == 2
    assert "trained for another fold" in capsys.readouterr().err
    assert main(["train", "predictor", "--ist", str(tmp_path / "nowhere"), *other]) == 2
    assert "not a finished generator run" in capsys.readouterr().err


def test_test_time_styles_do_not_make_a_new_generator_run(tmp_path):
    a = setup_fold("synthetic-grid", level="iid", profile="tiny", runs=tmp_path)
    b = setup_fold("synthetic-grid", level="iid", profile="tiny", runs=tmp_path,
                   ist={"test_styles": 4})
    c = setup_fold("synthetic-grid", level="iid", profile="tiny", runs=tmp_path,
                   ist={"content": 0.5})
    assert a.run_dir("generator") == b.run_dir("generator") != c.run_dir("generator")
    assert a.config("generator", 1) == b.config("generator", 1)


def test_test_time_correction_averages_the_re_rendered_views(tmp_path):
    """predict_proba with a transfer: the mean of the softmax over ``test_styles``
    re-renderings into training images; embed: the features of one re-rendering."""
    from ist_core.train.predictor import build_predictor, embed, predict_proba, restyle
    from ist_core.train.runtime import to_tensor

    setup = setup_fold("synthetic-grid", level="2", fold=0, profile="tiny", runs=tmp_path)
    model = build_predictor(setup).eval()
    images = setup.dataset.images[setup.fold.test[:8]]
    x = to_tensor(images, setup.device)

    def style_only(content, style, style_oe):  # a "transfer" that returns the style image
        return style

    styles = setup.images()
    views = [restyle(setup, style_only, x, styles, (0, j)) for j in range(3)]
    assert not torch.equal(views[0], views[1])  # each view draws other style images
    with torch.no_grad():
        want = sum(torch.softmax(model(v), dim=1) for v in views) / 3
        features = model.forward_features(restyle(setup, style_only, x, styles, (0, "embed")))
    got = predict_proba(setup, model, images, style_only, test_styles=3)
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    one = predict_proba(setup, model, images, style_only, test_styles=1)
    assert np.abs(one - got).max() > 1e-4
    plain = predict_proba(setup, model, images)
    with torch.no_grad():
        np.testing.assert_allclose(plain, torch.softmax(model(x), dim=1).numpy(), atol=1e-5)
    np.testing.assert_allclose(embed(setup, model, images, style_only), features.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="test_styles must be at least 1"):
        predict_proba(setup, model, images, style_only, test_styles=0)
