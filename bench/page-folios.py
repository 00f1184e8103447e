#!/usr/bin/env python3
# Which folio sizes hold a file's page cache (bench/fuse-folios.bench.ts). The file is
# mapped and every page touched (pages already cached stay as they are); each virtual
# page is mapped to its frame (/proc/self/pagemap) and the frame's flags read
# (/proc/kpageflags: compound head / tail). Needs root. Prints one JSON object:
#   {"pages": N, "small": pages in 4 KiB folios, "large": {"<pages per folio>": count}}
import json, mmap, os, struct, sys

PAGE = os.sysconf('SC_PAGE_SIZE')
COMPOUND_HEAD = 1 << 15
COMPOUND_TAIL = 1 << 16


def mapping_start(path):
    real = os.path.realpath(path)
    with open('/proc/self/maps') as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip() == real:
                return int(fields[0].split('-')[0], 16)
    raise SystemExit(f'{path}: mapping not found in /proc/self/maps')


def main(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    pages = size // PAGE
    view = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    for off in range(0, pages * PAGE, PAGE):
        view[off]
    start = mapping_start(path) // PAGE
    pagemap = os.open('/proc/self/pagemap', os.O_RDONLY)
    kpageflags = os.open('/proc/kpageflags', os.O_RDONLY)
    entries = os.pread(pagemap, 8 * pages, start * 8)
    small, large, run = 0, {}, 0

    def end_run():
        if run:
            large[str(run)] = large.get(str(run), 0) + 1

    for (entry,) in struct.iter_unpack('Q', entries):
        pfn = entry & ((1 << 55) - 1)
        (flags,) = struct.unpack('Q', os.pread(kpageflags, 8, pfn * 8))
        if flags & COMPOUND_HEAD:
            end_run()
            run = 1
        elif flags & COMPOUND_TAIL and run:
            run += 1
        else:
            end_run()
            run = 0
            small += 1
    end_run()
    print(json.dumps({'pages': pages, 'small': small, 'large': large}))


main(sys.argv[1])
