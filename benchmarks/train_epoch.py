"""One local epoch: fedlab.train against the original course's training loop.

The original read CIFAR through a torchvision dataset, augmented each image as a PIL image
(RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize) in a DataLoader with
two worker processes created anew every epoch, and moved each batch to the GPU. fedlab keeps
the uint8 images as one tensor on the compute device and augments whole batches there.

Both train the same ConvNet (same start weights, SGD lr 0.1, momentum 0.9, weight decay 5e-4,
batch 128) on the same synthetic images, alternating, and the script prints the time ratio.

    .venv/bin/python benchmarks/train_epoch.py [--images 5000] [--reps 3]
"""
import argparse
import copy
import os
import resource
import statistics
import time

# One full epoch on the offline stand-in, whatever the shell says.
os.environ["FEDLAB_DATA"] = "synthetic"
os.environ.pop("FEDLAB_QUICK", None)
os.environ.pop("NBGRADER_EXECUTION", None)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision import transforms  # noqa: E402

import fedlab  # noqa: E402
from fedlab import augment  # noqa: E402


class PILImages(torch.utils.data.Dataset):
    """The stand-in's uint8 images served as torchvision's CIFAR10 serves them: a PIL image per item."""

    def __init__(self, images, targets, transform):
        self.images = images.permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3), as torchvision keeps CIFAR
        self.targets = targets
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.targets[i]


def original_epoch(net, optimizer, dataset, device, max_batches=None):
    """The original's loop: a new two-worker DataLoader each epoch, each batch copied to the device."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, num_workers=2)
    net.train()
    total_loss, correct, seen = 0.0, 0, 0
    for b, (inputs, targets) in enumerate(loader):
        if b == max_batches:
            break
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = F.cross_entropy(outputs, targets)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        correct += outputs.argmax(1).eq(targets).sum().item()
        seen += len(targets)
    return total_loss / seen, 100.0 * correct / seen


def sgd(net):
    return torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def cpu_seconds():
    """CPU time of this process and of its finished children (the DataLoader's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn):
    """(wall seconds, CPU seconds) of ``fn()``; on a busy machine CPU seconds are the steadier measure."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000, help="images in the epoch (default 5000)")
    parser.add_argument("--reps", type=int, default=3, help="timed epochs per side, alternating (default 3)")
    args = parser.parse_args()

    fedlab.seed_everything(0)
    trainset, _ = fedlab.load_cifar10()
    idxs = list(range(args.images))
    device = fedlab.compute_device()
    start_net = fedlab.ConvNet()

    fed_device = fedlab.create_device(start_net, 0, trainset, idxs)
    pil_set = PILImages(trainset.data[:args.images], trainset.targets[:args.images], transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(augment.CIFAR10_MEAN, augment.CIFAR10_STD),
    ]))
    original_net = copy.deepcopy(start_net).to(device)
    original_opt = sgd(original_net)

    def run_fedlab():
        fedlab.train(0, fed_device)

    def run_original():
        original_epoch(original_net, original_opt, pil_set, device)

    # warm up both with two batches on throwaway copies (first kernels, fedlab's one copy of the images)
    warm_net = copy.deepcopy(original_net)
    original_epoch(warm_net, sgd(warm_net), pil_set, device, max_batches=2)
    fedlab.train(0, fedlab.create_device(start_net, 1, trainset, idxs[:256]))
    print(f"compute device {device} ({torch.get_num_threads()} CPU threads, {os.cpu_count()} cores), "
          f"{args.images} images, batch 128, {args.reps} epochs each, alternating")
    times = {"fedlab": [], "original": []}
    for rep in range(args.reps):
        order = [("fedlab", run_fedlab), ("original", run_original)]
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            times[name].append(timed(fn))
            print(f"  epoch {rep + 1}, {name:8s}: {times[name][-1][0]:6.1f} s wall, {times[name][-1][1]:6.1f} s CPU")
    for k, what in ((0, "wall"), (1, "CPU")):
        fed = statistics.median(t[k] for t in times["fedlab"])
        orig = statistics.median(t[k] for t in times["original"])
        print(f"median epoch ({what}): fedlab {fed:.1f} s, original {orig:.1f} s; original / fedlab = {orig / fed:.2f}")


if __name__ == "__main__":
    main()
