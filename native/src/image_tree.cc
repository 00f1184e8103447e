// Builds and queries the immutable per-image tree (see image_tree.h).
#include "image_tree.h"
#include <algorithm>
#include <cstring>

namespace sway {

static uint32_t typeBits(EntryKind kind) {
  switch (kind) {
    case EntryKind::Dir: return S_IFDIR;
    case EntryKind::Symlink: return S_IFLNK;
    default: return S_IFREG;
  }
}

std::shared_ptr<Image> buildImage(std::string id, std::vector<std::string> names, ImageColumns&& cols) {
  auto image = std::make_shared<Image>();
  image->id = std::move(id);
  image->names = std::move(names);
  const size_t n = cols.names.size();
  std::vector<int64_t> nodeOf(n, -1);
  image->nodes.reserve(n);
  // Pass 1: a node for every entry that is not a hard link.
  for (size_t i = 0; i < n; i++) {
    auto kind = static_cast<EntryKind>(cols.kinds[i]);
    if (kind == EntryKind::HardLink) continue;
    Node node;
    node.mode = typeBits(kind) | (cols.modes[i] & 07777);
    node.uid = cols.uids[i];
    node.gid = cols.gids[i];
    node.mtime = static_cast<int64_t>(cols.mtimes[i]);
    node.nlink = kind == EntryKind::Dir ? 2 : 0;  // files count their names below
    if (kind == EntryKind::File) {
      node.size = static_cast<uint64_t>(cols.sizes[i]);
      node.hash = std::move(cols.hashes[i]);
      if (i < cols.chunkSizes.size()) node.chunkSize = cols.chunkSizes[i];
      image->totalBytes += node.size;
    } else if (kind == EntryKind::Symlink) {
      node.target = std::move(cols.targets[i]);
      node.size = node.target.size();
      node.nlink = 1;
    }
    node.xattrs = std::move(cols.xattrs[i]);
    nodeOf[i] = static_cast<int64_t>(image->nodes.size());
    image->nodes.push_back(std::move(node));
  }
  // Pass 2: hard links share their file's node (the target may sort after the link).
  for (size_t i = 0; i < n; i++) {
    if (static_cast<EntryKind>(cols.kinds[i]) == EntryKind::HardLink) nodeOf[i] = nodeOf[cols.linkTo[i]];
  }
  // Pass 3: link every name into its parent directory.
  for (size_t i = 0; i < n; i++) {
    const uint32_t self = static_cast<uint32_t>(nodeOf[i]);
    if (cols.parents[i] < 0) { image->nodes[self].parent = self; continue; }
    const uint32_t parent = static_cast<uint32_t>(nodeOf[cols.parents[i]]);
    Node& child = image->nodes[self];
    if (static_cast<EntryKind>(cols.kinds[i]) == EntryKind::Dir) {
      child.parent = parent;
      image->nodes[parent].nlink++;
    } else if (S_ISREG(child.mode)) {
      child.nlink++;
    }
    image->nodes[parent].children.emplace_back(std::move(cols.names[i]), self);
  }
  for (Node& node : image->nodes) {
    std::sort(node.children.begin(), node.children.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  return image;
}

int64_t Image::findChild(uint32_t dir, const char* name) const {
  const auto& children = nodes[dir].children;
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const auto& entry, const char* key) { return std::strcmp(entry.first.c_str(), key) < 0; });
  if (it == children.end() || it->first != name) return -1;
  return it->second;
}

void Image::fillStat(uint32_t index, struct stat* st) const {
  const Node& node = nodes[index];
  std::memset(st, 0, sizeof(*st));
  st->st_ino = inodeOf(index);
  st->st_mode = node.mode;
  st->st_nlink = node.nlink;
  st->st_uid = node.uid;
  st->st_gid = node.gid;
  st->st_size = static_cast<off_t>(node.size);
  st->st_blksize = 4096;
  st->st_blocks = static_cast<blkcnt_t>((node.size + 511) / 512);
  st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = node.mtime;
}

}  // namespace sway
