#!/usr/bin/env python3
# Timed filesystem operations for bench/fuse.bench.ts, run in a child process so the
# benchmark process never touches the FUSE mount it measures (and spawn time is excluded).
# Every operation is the same code for the ext4 baseline and for the FUSE mount: same
# process model, same 1 MiB read buffer, same thread count.
#   once OP TARGET             one timed pass: {"seconds", "entries"|"bytes"}
#   repeat OP TARGET K         K timed passes back to back, one sample: {"seconds" (all K),
#                              "passes": [each pass's seconds], "entries"|"bytes" (one pass)}
#   drop LISTFILE              posix_fadvise(DONTNEED) each listed file: evict it from
#                              the page cache (dirty pages are written back first)
# OP is one of:
#   stat ROOT                  lstat every entry below ROOT (os.walk)
#   read FILE                  sequential read of FILE
#   parallel LISTFILE[@BASE]   64 threads read the listed relative paths under BASE
#                              (round-robin over threads)
# Times are seconds (time.perf_counter).
import json, os, sys, threading, time

BUF = 1 << 20
THREADS = 64

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

def parallel(paths):
    totals = [0] * THREADS
    def worker(i):
        buf = bytearray(BUF)
        for p in paths[i::THREADS]:
            totals[i] += read_file(p, buf)
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in ts: t.start()
    for t in ts: t.join()
    return sum(totals)

def read_list(listfile):
    return open(listfile).read().split('\0')[:-1]

def operation(op, target):
    """A zero-argument function doing one pass, and the name of what it counts."""
    if op == 'stat':
        return (lambda: walk_stat(target)), 'entries'
    if op == 'read':
        buf = bytearray(BUF)
        return (lambda: read_file(target, buf)), 'bytes'
    if op == 'parallel':
        listfile, base = target.split('@', 1)
        paths = [os.path.join(base, p) for p in read_list(listfile)]
        return (lambda: parallel(paths)), 'bytes'
    raise SystemExit('unknown op ' + op)

def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out

cmd = sys.argv[1]
if cmd == 'once':
    fn, what = operation(sys.argv[2], sys.argv[3])
    seconds, n = timed(fn)
    print(json.dumps({'seconds': seconds, what: n}))
elif cmd == 'repeat':
    fn, what = operation(sys.argv[2], sys.argv[3])
    passes = []
    for _ in range(int(sys.argv[4])):
        seconds, n = timed(fn)
        passes.append(seconds)
    print(json.dumps({'seconds': sum(passes), 'passes': passes, what: n}))
elif cmd == 'drop':
    for p in read_list(sys.argv[2]):
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)  # dirty pages are not dropped: write them back first
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    print('{}')
else:
    raise SystemExit('unknown command ' + cmd)
