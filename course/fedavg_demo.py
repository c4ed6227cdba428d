"""A few rounds of federated averaging on the synthetic stand-in, from the library's pieces.

The averaging is written here on purpose: it is a student task, so fedlab does not ship it.
Usage: python -m course.fedavg_demo [--rounds 5] [--out build/demo]
"""
import argparse
import random
from collections import OrderedDict
from pathlib import Path

import torch

import fedlab


def average(states):
    return OrderedDict((k, torch.stack([s[k].float() for s in states]).mean(0).to(states[0][k].dtype))
                       for k in states[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=3)
    parser.add_argument("--out", default="build/demo")
    args = parser.parse_args(argv)
    fedlab.seed_everything(0)
    trainset, testset = fedlab.load_cifar10()
    share = len(trainset) // args.devices
    order = torch.randperm(len(trainset)).tolist()
    net = fedlab.ConvNet()
    devices = [fedlab.create_device(net, i, trainset, order[i * share:(i + 1) * share]) for i in range(args.devices)]
    accs = []
    for rnd in fedlab.trange(args.rounds, desc="rounds"):
        chosen = random.sample(devices, args.per_round)
        for device in chosen:
            device["net"].load_state_dict(devices[0]["net"].state_dict())
            fedlab.train(rnd, device)
        avg = average([d["net"].state_dict() for d in chosen])
        for device in devices:
            device["net"].load_state_dict(avg)
            device["scheduler"].step()
        accs.append(fedlab.test(rnd, devices[0], testset))
        print(f"round {rnd + 1}: global test accuracy {accs[-1]:.2f} %")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fedlab.plots.plot_accuracy({"FedAvg": accs}).savefig(out / "fedavg.png")
    print(f"plot saved to {out / 'fedavg.png'}")


if __name__ == "__main__":
    main()
