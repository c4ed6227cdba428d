"""One FedAvg round's local training: the original course's loop against fedlab.train and train_round.

Arms, timed alternately in one process (medians of --reps rounds), each on its own copies of
the same devices (same start weights and data):
  (a) original: the original course's loop (PIL images, a new two-worker DataLoader each epoch,
      fp32, ``.to(device)``, ``loss.item()`` per batch), from benchmarks/train_epoch.py;
  (b) fedlab.train in the loop ``for d in devices: for e in range(epochs): train(r, d)``;
  (c) train_round in fp32, and (d) in bf16 (CUDA only), with its default engine: on CUDA the
      devices trained together, on the CPU the loop of (b); on the CPU (c') forces the joint engine.
A round is --devices devices x --images images x --epochs local epochs, batch 128, ConvNet.
Defaults: 5 x 5,000 x 4 on a GPU (the course's round); 5 x 192 x 1 on a CPU (a full batch and
a partial one per device), where a full round takes an hour. Warm-up (first kernels, cuDNN's
choices: one round on half a batch per device) is timed apart; there are no CUDA graphs, so
no capture time. Prints img/s, the ratios to (a) and the whole course's projected time.

    .venv/bin/python benchmarks/engine_vs_original.py [--devices 5] [--images N] [--epochs E] [--reps 3]
"""
import argparse
import copy
import os
import platform
import statistics

from train_epoch import PILImages, original_epoch, sgd, timed  # sets FEDLAB_DATA=synthetic, quick mode off

import torch  # noqa: E402
from torchvision import transforms  # noqa: E402

import fedlab  # noqa: E402
from fedlab import augment  # noqa: E402

COURSE_IMAGE_PASSES = 63e6  # training image-passes of assignments 01-04 at the CURRICULUM's budgets (issue 11)
BATCH = 128


def pil_transform():
    return transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(augment.CIFAR10_MEAN, augment.CIFAR10_STD),
    ])


def make_arms(trainset, start_net, n_devices, images, epochs, cuda):
    """{name: function that trains one round} for each arm, on its own devices from ``start_net``."""
    parts = [range(i * images, (i + 1) * images) for i in range(n_devices)]
    target = fedlab.compute_device()
    originals = []
    for part in parts:
        net = copy.deepcopy(start_net).to(target)
        images_of_part = slice(part.start, part.stop)
        pil_set = PILImages(trainset.data[images_of_part], trainset.targets[images_of_part], pil_transform())
        originals.append((net, sgd(net), pil_set))

    def devices():
        return [fedlab.create_device(start_net, i, trainset, part, batch_size=BATCH) for i, part in enumerate(parts)]

    loop_devices, round_devices, other_devices = devices(), devices(), devices()

    def original():
        for net, opt, pil_set in originals:
            for _ in range(epochs):
                original_epoch(net, opt, pil_set, target)

    def loop():
        for device in loop_devices:
            for _ in range(epochs):
                fedlab.train(0, device)

    def round_in(precision, devices_, engine="auto"):
        def run():
            before = fedlab.precision()
            fedlab.set_precision(precision)
            try:
                fedlab.train_round(0, devices_, epochs, engine=engine)
            finally:
                fedlab.set_precision(before)
        return run

    arms = {"(a) original": original, "(b) train loop": loop, "(c) round fp32": round_in("fp32", round_devices)}
    if cuda:
        arms["(d) round bf16"] = round_in("bf16", other_devices)
    else:
        arms["(c') joint fp32"] = round_in("fp32", other_devices, engine="vectorized")
    return arms


def host_cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main():
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=5, help="devices in the round (default 5)")
    parser.add_argument("--images", type=int, default=5000 if cuda else 192,
                        help="images per device (5000 GPU, 192 CPU)")
    parser.add_argument("--epochs", type=int, default=4 if cuda else 1, help="local epochs (4 GPU, 1 CPU)")
    parser.add_argument("--reps", type=int, default=3, help="timed rounds per arm, alternating (default 3)")
    args = parser.parse_args()

    fedlab.seed_everything(0)
    trainset, _ = fedlab.load_cifar10()
    start_net = fedlab.ConvNet()
    gpu = torch.cuda.get_device_name() if cuda else "none"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else "none"
    print(f"GPU {gpu}; host CPU {host_cpu()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads); "
          f"torch {torch.__version__}, cuDNN {cudnn}")
    passes = args.devices * args.images * args.epochs
    print(f"one round: {args.devices} devices x {args.images} images x {args.epochs} epochs = {passes} image-passes, "
          f"batch {BATCH}, ConvNet; {args.reps} rounds per arm, alternating")

    warm_images = BATCH // 2
    for name, run in make_arms(trainset, start_net, args.devices, warm_images, 1, cuda).items():
        print(f"  warm-up {name:16s}: {timed(run)[0]:7.1f} s (one round on {warm_images} images per device)")
    arms = make_arms(trainset, start_net, args.devices, args.images, args.epochs, cuda)
    times = {name: [] for name in arms}
    for rep in range(args.reps):
        order = list(arms.items()) if rep % 2 == 0 else list(arms.items())[::-1]
        for name, run in order:
            times[name].append(timed(run))
            print(f"  round {rep + 1}, {name:16s}: {times[name][-1][0]:7.1f} s wall, {times[name][-1][1]:7.1f} s CPU")
    cpu_seconds = [] if cuda else [(1, "CPU seconds, steadier than wall time on a busy machine")]
    for k, what in [(0, "wall")] + cpu_seconds:
        print(f"medians of {args.reps} ({what}):")
        original_rate = passes / statistics.median(t[k] for t in times["(a) original"])
        for name, ts in times.items():
            rate = passes / statistics.median(t[k] for t in ts)
            course = COURSE_IMAGE_PASSES / rate
            print(f"  {name:16s}: {rate:9.1f} img/s, {rate / original_rate:5.2f}x (a); the whole course "
                  f"({COURSE_IMAGE_PASSES / 1e6:.0f} M image-passes) in {course / 60:8.1f} min")


if __name__ == "__main__":
    main()
