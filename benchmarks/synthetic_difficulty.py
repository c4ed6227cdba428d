"""Is the synthetic CIFAR-10 stand-in learnable but not trivial? More data must help.

Trains fedlab.ConvNet with fedlab.train on 10 % and on 100 % of the stand-in's training set
for the same number of epochs and prints both test accuracies. The 100 % run must clearly
beat the 10 % run, and neither may come near 100 %.

    .venv/bin/python benchmarks/synthetic_difficulty.py                      # the real budget (GPU)
    .venv/bin/python benchmarks/synthetic_difficulty.py --epochs 1 --test-images 2000   # a CPU budget
    .venv/bin/python benchmarks/synthetic_difficulty.py --train-images 5000 --epochs 4 --test-images 2000
                                                         # the first 5,000 train images as "100 %": CPU minutes
"""
import argparse
import os
import time

# This benchmark is about the stand-in and needs full epochs: never real data, never quick mode.
os.environ["FEDLAB_DATA"] = "synthetic"
os.environ.pop("FEDLAB_QUICK", None)
os.environ.pop("NBGRADER_EXECUTION", None)

import fedlab  # noqa: E402


def run(trainset, testset, n_train, args):
    """Test accuracy (%) of a ConvNet trained ``args.epochs`` epochs on the first ``n_train`` images."""
    fedlab.seed_everything(args.seed)
    device = fedlab.create_device(fedlab.ConvNet(), 0, trainset, range(n_train))
    start = time.perf_counter()
    for epoch in range(args.epochs):
        loss, acc = fedlab.train(epoch, device)
        print(f"  {n_train:6d} images, epoch {epoch + 1}/{args.epochs}: train loss {loss:.3f}, "
              f"train accuracy {acc:.1f} %")
    _, test_acc = fedlab.evaluate(device["net"], testset, range(args.test_images))
    print(f"  {n_train:6d} images: test accuracy {test_acc:.2f} % on {args.test_images} test images "
          f"({time.perf_counter() - start:.0f} s)")
    return test_acc


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs for both runs (default 10)")
    parser.add_argument("--test-images", type=int, default=10000, help="first N test images to evaluate on")
    parser.add_argument("--train-images", type=int, default=50000,
                        help="the first N train images are the 100 %% run's (default: all 50,000)")
    parser.add_argument("--small", type=float, default=0.1, help="fraction of the train set for the small run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    trainset, testset = fedlab.load_cifar10()
    if not 1 <= args.test_images <= len(testset):
        parser.error(f"--test-images must lie in 1..{len(testset)}")
    if not 10 <= args.train_images <= len(trainset):
        parser.error(f"--train-images must lie in 10..{len(trainset)}")
    print(f"compute device {fedlab.compute_device()}, {args.epochs} epoch(s), batch 128, lr 0.1, "
          f"{args.test_images} test images, seed {args.seed}")
    n_small = int(args.small * args.train_images)
    small = run(trainset, testset, n_small, args)
    full = run(trainset, testset, args.train_images, args)
    print(f"\n{args.small:.0%} of the data ({n_small} images): {small:.2f} % test accuracy")
    print(f"100% of the data ({args.train_images} images): {full:.2f} % test accuracy")
    print(f"chance is 10 %; 100 % of the data wins by {full - small:.2f} points")


if __name__ == "__main__":
    main()
