#!/usr/bin/env python3
# Timed filesystem operations for bench/fuse.bench.ts, run in a child process so the
# benchmark process never touches the FUSE mount it measures (and spawn time is excluded).
#   stat ROOT          lstat every entry (os.walk), twice: {"first", "second", "entries"}
#   read FILE          sequential read, 1 MiB buffers, twice: {"first", "second", "bytes"}
#   parallel LISTFILE  64 threads read the listed files (round-robin), twice
#   drop LISTFILE      posix_fadvise(DONTNEED) each listed file: evict it from the page cache
# Times are seconds (time.perf_counter).
import json, os, sys, threading, time

def walk_stat(root):
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lstat(os.path.join(dirpath, name))
            n += 1
    return n

def read_file(path, buf):
    total = 0
    with open(path, 'rb', buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                return total
            total += n

def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out

def parallel(paths, threads=64):
    totals = [0] * threads
    def worker(i):
        buf = bytearray(1 << 20)
        for p in paths[i::threads]:
            totals[i] += read_file(p, buf)
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    return sum(totals)

cmd, arg = sys.argv[1], sys.argv[2]
if cmd == 'stat':
    first, n = timed(lambda: walk_stat(arg))
    second, _ = timed(lambda: walk_stat(arg))
    print(json.dumps({'first': first, 'second': second, 'entries': n}))
elif cmd == 'read':
    buf = bytearray(1 << 20)
    first, n = timed(lambda: read_file(arg, buf))
    second, _ = timed(lambda: read_file(arg, buf))
    print(json.dumps({'first': first, 'second': second, 'bytes': n}))
elif cmd == 'parallel':
    paths = open(arg).read().split('\0')[:-1]
    first, n = timed(lambda: parallel(paths))
    second, _ = timed(lambda: parallel(paths))
    print(json.dumps({'first': first, 'second': second, 'bytes': n}))
elif cmd == 'drop':
    for p in open(arg).read().split('\0')[:-1]:
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)  # dirty pages are not dropped: write them back first
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    print('{}')
