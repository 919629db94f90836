"""Cuts the MNIST subset the repository ships: the first 10,000 training and 2,000 test examples,
as gzipped IDX files. Usage: python3 data/make_subset.py ../shared/data/mnist data/mnist-subset"""
import gzip, struct, sys, os

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for name, n in [("train-images.idx3-ubyte", 10000), ("train-labels.idx1-ubyte", 10000),
                ("t10k-images.idx3-ubyte", 2000), ("t10k-labels.idx1-ubyte", 2000)]:
    data = gzip.open(os.path.join(src, name + ".gz")).read()
    ndim = data[3]
    dims = list(struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim]))
    per = 1
    for d in dims[1:]:
        per *= d
    header = data[:4] + struct.pack(">" + "I" * ndim, n, *dims[1:])
    body = data[4 + 4 * ndim: 4 + 4 * ndim + n * per]
    # mtime=0: the same bytes on every run.
    with open(os.path.join(dst, name + ".gz"), "wb") as f:
        f.write(gzip.compress(header + body, compresslevel=9, mtime=0))
