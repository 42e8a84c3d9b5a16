"""Training throughput of every network of one fold, in one process.

Prints images/s for the encoder's pretraining, IST's generator (one step = a critic
and a generator update on a batch of content and style images), StarGAN v2 (one step =
its iteration: two discriminator and two generator updates, latent- and
reference-guided), the naive predictor and the IST predictor, and the ratios that
matter: IST's generator against StarGAN v2's at the same image size and batch, and the
IST predictor against the naive one. Images/s counts the content images of a step.
The first steps (warm-up) are not timed.

    PYTHONPATH=. python3 benchmarks/train_speed.py --profile quick --steps 30
    PYTHONPATH=. python3 benchmarks/train_speed.py --profile paper --steps 100   # a GPU
"""

from __future__ import annotations

import argparse

import torch

from ist_core.models import StyleTransfer
from ist_core.profiles import get_profile
from ist_core.results import hardware
from ist_core.speed import training_rate
from ist_core.train import setup_fold, train_encoder, train_ist, train_predictor
from ist_core.train.ist import build_generator
from ist_core.train.pretrain import build_encoder
from ist_core.train.runtime import freeze
from ist_core.train.stargan import train_stargan


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--dataset", default="synthetic-grid")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    setup = setup_fold(args.dataset, level=2, fold=0, profile=get_profile(args.profile),
                       device=args.device)
    # throughput does not depend on the weights: untrained networks, frozen as in training
    encoder = freeze(build_encoder(setup))
    transfer = freeze(StyleTransfer(encoder, freeze(build_generator(setup, encoder)[0])))
    trainers = {
        "encoder": lambda s: train_encoder(s, progress=False),
        "generator (IST)": lambda s: train_ist(s, encoder, progress=False),
        "generator (StarGAN v2)": lambda s: train_stargan(s, progress=False),
        "predictor (naive)": lambda s: train_predictor(s, progress=False),
        "predictor (IST)": lambda s: train_predictor(s, transfer, progress=False),
    }
    rates = {label: training_rate(train, setup, args.steps, args.warmup)
             for label, train in trainers.items()}
    device = setup.device
    print(f"device: {device} ({hardware()}), threads {torch.get_num_threads()}, amp {setup.amp}")
    print(f"profile {setup.profile.name}: {setup.image_shape} images, width {setup.profile.width}, "
          f"generator width {setup.profile.gen_width}, batch {setup.profile.batch_size}, "
          f"{args.steps} timed steps")
    for label, rate in rates.items():
        print(f"  {label:<20} {rate:10.1f} images/s")
    print(f"  IST generator / StarGAN v2:      "
          f"{rates['generator (IST)'] / rates['generator (StarGAN v2)']:.2f}")
    print(f"  IST predictor / naive predictor: {rates['predictor (IST)'] / rates['predictor (naive)']:.2f}")
    print(f"  generator / naive predictor:     {rates['generator (IST)'] / rates['predictor (naive)']:.2f}")


if __name__ == "__main__":
    main()
