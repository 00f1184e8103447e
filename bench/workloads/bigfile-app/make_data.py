# Write SIZE_MIB MiB of pseudo-random bytes (seeded: reproducible) to PATH, 1 MiB at a time.
import os
import random
import sys

path, size_mib = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.dirname(path), exist_ok=True)
rng = random.Random(5)
with open(path, "wb") as out:
    for _ in range(size_mib):
        out.write(rng.randbytes(1024 * 1024))
