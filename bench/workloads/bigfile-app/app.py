# Benchmark workload "bigfile": read 64 MiB of the 1 GiB /data/big.bin as 16 chunks of
# 4 MiB at offsets spread over the file, checksum them; the ready line is the "bigfile:" print.
import hashlib
import os

PATH = "/data/big.bin"
CHUNK = 4 * 1024 * 1024
CHUNKS = 16

size = os.path.getsize(PATH)
stride = size // CHUNKS
digest = hashlib.sha256()
read = 0
with open(PATH, "rb") as f:
    for i in range(CHUNKS):
        f.seek(i * stride)
        data = f.read(CHUNK)
        digest.update(data)
        read += len(data)
print(f"bigfile: read {read // (1024 * 1024)} MiB of {size // (1024 * 1024)} MiB sha256={digest.hexdigest()[:16]}")
