"""IDX images (the MNIST format; Fashion-MNIST's files), read in Python: the report draws test images.

The C reader (src/data/idx.c) is the one that checks a set before training on it; this one reads one
image of a set named in a run's files, which may since have become anything: it opens only a regular
file, reads its header first, and then reads only the image asked for (gzip inflates no further).
"""
import gzip
import os
import stat
import struct

MAX_SIDE = 4096  # as IDX_MAX_SIDE in include/normlab/idx.h


def images_file(folder):
    """The test images file in folder (plain, else gzip); ValueError when it is not a regular file."""
    path = os.path.join(folder, "t10k-images-idx3-ubyte")
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    mode = os.stat(path).st_mode  # OSError when missing
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file (a FIFO, a device or a folder): not read")
    return path


def test_image(folder, i):
    """Test image i of the set in folder, as rows of pixel values (0..255)."""
    path = images_file(folder)
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        head = f.read(16)
        if len(head) < 16:
            raise ValueError(f"{path}: shorter than an IDX header")
        magic, n, rows, cols = struct.unpack(">IIII", head)
        if magic != 0x803:
            raise ValueError(f"{path}: magic number 0x{magic:08x}, not an IDX images file")
        if not (0 < rows <= MAX_SIDE and 0 < cols <= MAX_SIDE) or not 0 <= i < n:
            raise ValueError(f"{path}: {n} images of {rows} x {cols}: no image {i} there")
        f.seek(16 + i * rows * cols)
        px = f.read(rows * cols)
    if len(px) < rows * cols:
        raise ValueError(f"{path}: truncated before image {i}")
    return [list(px[r * cols:(r + 1) * cols]) for r in range(rows)]


def write_tiny_set(folder, n=64, side=8):
    """A tiny image set in the four IDX files' names (gzip), for tests and examples: four classes, each
    image bright in the quarter its label names, the rest dark; the same n images in train and test."""
    os.makedirs(folder, exist_ok=True)
    labels = [(k * 7 + 3) % 4 for k in range(n)]
    pixels = bytes(200 if (y >= side // 2) * 2 + (x >= side // 2) == q else 20
                   for q in labels for y in range(side) for x in range(side))
    for split in ("train", "t10k"):
        with gzip.open(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, side, side) + pixels)
        with gzip.open(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + bytes(labels))
