// One loaded image as an immutable in-memory tree: nodes with the exact attributes of
// the image, children sorted by name, hard links sharing one node, xattrs by value.
// Built once from columns that the TypeScript layer has already validated and resolved
// (parent index, hard-link target index, standard dirs added), then never mutated, so
// FUSE threads read it without locks. Deliberately does not: parse manifests, check
// input (JS did), or know about inode numbers beyond its own base.
#pragma once
#include <sys/stat.h>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "counters.h"

namespace sway {

enum class EntryKind : uint8_t { Dir = 0, File = 1, Symlink = 2, HardLink = 3 };

struct Node {
  uint32_t mode = 0;  // file-type bits | permission bits (incl. setuid/setgid/sticky)
  uint32_t uid = 0, gid = 0;
  uint32_t nlink = 0;
  int64_t mtime = 0;
  uint64_t size = 0;
  uint32_t parent = 0;           // node index of the parent (root: itself)
  std::string hash;              // files: hex sha256 of the content
  uint32_t chunkSize = 0;        // files with manifest chunk hashes: fetched by chunk (chunk_map.h)
  std::string target;            // symlinks: the target, verbatim
  std::vector<std::pair<std::string, std::string>> xattrs;  // name -> raw value
  std::vector<std::pair<std::string, uint32_t>> children;   // dirs: name -> node, sorted
};

// The columns the JS layer passes in (one element per manifest entry, in manifest order).
struct ImageColumns {
  std::vector<std::string> names;       // last path component; '' for the root
  std::vector<int32_t> parents;         // entry index of the parent; -1 for the root
  std::vector<uint8_t> kinds;           // EntryKind
  std::vector<uint32_t> modes, uids, gids;
  std::vector<double> mtimes, sizes;
  std::vector<std::string> hashes, targets;
  std::vector<int32_t> linkTo;          // hard links: entry index of the file; else -1
  std::vector<uint32_t> chunkSizes;     // files fetched by chunk: the chunk size; else 0 (may be empty)
  std::vector<std::vector<std::pair<std::string, std::string>>> xattrs;
};

struct Image {
  std::string id;
  std::vector<std::string> names;  // directory names at the mount root: id + aliases
  uint64_t base = 0;               // inode number of node 0 (the image root)
  std::vector<Node> nodes;
  uint64_t totalBytes = 0;
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();

  uint64_t inodeOf(uint32_t index) const { return base + index; }
  // Child of a directory by name, or -1.
  int64_t findChild(uint32_t dir, const char* name) const;
  void fillStat(uint32_t index, struct stat* st) const;
};

// Builds the tree; entry 0 must be the root directory.
std::shared_ptr<Image> buildImage(std::string id, std::vector<std::string> names, ImageColumns&& cols);

}  // namespace sway
