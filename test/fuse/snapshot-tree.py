#!/usr/bin/env python3
# Prints a JSON snapshot of a directory tree: for every path (relative, '' = root) its
# type, permission bits, owner, size, link count, mtime, symlink target, content sha256
# and xattrs (hex). Used by the FUSE tests to compare a mount with its source tree from a
# process other than the one serving the mount. Does not follow symlinks.
import hashlib, json, os, stat, sys

def entry(path):
    st = os.lstat(path)
    e = {
        'type': 'd' if stat.S_ISDIR(st.st_mode) else 'l' if stat.S_ISLNK(st.st_mode) else 'f' if stat.S_ISREG(st.st_mode) else '?',
        'mode': st.st_mode & 0o7777, 'uid': st.st_uid, 'gid': st.st_gid, 'nlink': st.st_nlink,
        'mtime': int(st.st_mtime), 'ino': st.st_ino,
    }
    if e['type'] == 'f':
        e['size'] = st.st_size
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        e['sha256'] = h.hexdigest()
    if e['type'] == 'l':
        e['size'] = st.st_size
        e['target'] = os.readlink(path)
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
        e['xattrs'] = {n: os.getxattr(path, n, follow_symlinks=False).hex() for n in names}
    except OSError:
        e['xattrs'] = {}
    return e

root = sys.argv[1]
out = {'': entry(root)}
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        full = os.path.join(dirpath, name)
        out[os.path.relpath(full, root)] = entry(full)
json.dump(out, sys.stdout, sort_keys=True)
