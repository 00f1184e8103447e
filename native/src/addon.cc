// Node-API binding of LazyFs: the `NativeMount` class that ts/worker/fuse/native.ts loads.
// It converts arguments (already validated by the TypeScript layer: this file trusts its
// input, as better-sqlite3 does) and bridges misses to JavaScript through one
// TypedThreadSafeFunction. Deliberately does not: validate, fetch, or hold policy.
//
// Lifetime: mount() starts the session; unmount() (or the env cleanup hook when Node
// exits, or the finalizer) shuts it down, and only then releases the thread-safe
// function, so no FUSE thread can call into a released function.
#include <napi.h>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_set>
#include "lazy_fs.h"

namespace {

using sway::Counters;
using sway::LazyFs;

// A whole-blob miss (chunkSize 0) or a run of chunks of a partially cached blob.
struct Miss {
  std::string hash;
  uint64_t size;
  uint32_t chunkSize = 0, first = 0, count = 0;
};

// No C++ exception may cross into V8 (built without C++ exceptions in node-addon-api, one
// would reach std::terminate and end the worker for every user): every entry point runs
// its body through this, which turns one into a JS Error (bad_alloc: "out of memory").
template <typename Body>
Napi::Value guardedJs(Napi::Env env, Body body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    Napi::Error::New(env, "sway native addon: out of memory").ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string("sway native addon: ") + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

void callMissJs(Napi::Env env, Napi::Function onMiss, std::nullptr_t*, Miss* miss) {
  std::unique_ptr<Miss> owned(miss);
  if (env == nullptr || onMiss.IsEmpty()) return;  // finalizing: the waiters got EIO at shutdown
  guardedJs(env, [&] {
    if (owned->chunkSize == 0) {
      onMiss.Call({Napi::String::New(env, owned->hash), Napi::Number::New(env, static_cast<double>(owned->size))});
    } else {
      onMiss.Call({Napi::String::New(env, owned->hash), Napi::Number::New(env, static_cast<double>(owned->size)),
                   Napi::Number::New(env, owned->chunkSize), Napi::Number::New(env, owned->first), Napi::Number::New(env, owned->count)});
    }
    return env.Undefined();
  });
}

// Every mounted LazyFs, so that exit() (process.exit(), which does not always run Node's
// env cleanup hooks) still unmounts: an atexit handler shuts down whatever is left.
std::mutex liveMu;
std::unordered_set<LazyFs*> live;
std::once_flag atexitOnce;

void shutdownLiveAtExit() {
  std::lock_guard<std::mutex> lock(liveMu);
  for (LazyFs* fs : live) fs->shutdown();
  live.clear();
}

void trackLive(LazyFs* fs) {
  std::call_once(atexitOnce, [] { std::atexit(shutdownLiveAtExit); });
  std::lock_guard<std::mutex> lock(liveMu);
  live.insert(fs);
}

void untrackLive(LazyFs* fs) {
  std::lock_guard<std::mutex> lock(liveMu);
  live.erase(fs);
}

using MissFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, Miss, callMissJs>;

Napi::Object countersToJs(Napi::Env env, const Counters& c) {
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* name, uint64_t v) { o.Set(name, Napi::Number::New(env, static_cast<double>(v))); };
  set("lookups", c.lookups);
  set("negativeLookups", c.negativeLookups);
  set("memoryHits", c.memoryHits);
  set("diskHits", c.diskHits);
  set("passthroughOpens", c.passthroughOpens);
  set("prefetchedBytes", c.prefetchedBytes);
  set("serverFetches", c.serverFetches);
  set("bytesFetched", c.bytesFetched);
  o.Set("fetchLatencyTotalMs", Napi::Number::New(env, c.fetchLatencyTotalUs / 1000.0));
  o.Set("fetchLatencyMaxMs", Napi::Number::New(env, c.fetchLatencyMaxUs / 1000.0));
  set("eios", c.eios);
  set("reads", c.reads);
  set("bytesRead", c.bytesRead);
  return o;
}

std::vector<std::string> stringArray(Napi::Value v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::String>().Utf8Value();
  return out;
}

template <typename T, typename ArrayT>
std::vector<T> typedArray(Napi::Value v) {
  ArrayT a = v.As<ArrayT>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Array toJs(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array a = Napi::Array::New(env, values.size());
  for (uint32_t i = 0; i < values.size(); i++) a.Set(i, Napi::String::New(env, values[i]));
  return a;
}

class NativeMount : public Napi::ObjectWrap<NativeMount> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeMount", {
      InstanceMethod<&NativeMount::mount>("mount"),
      InstanceMethod<&NativeMount::unmount>("unmount"),
      InstanceMethod<&NativeMount::loadImage>("loadImage"),
      InstanceMethod<&NativeMount::unloadImage>("unloadImage"),
      InstanceMethod<&NativeMount::blobReady>("blobReady"),
      InstanceMethod<&NativeMount::chunksReady>("chunksReady"),
      InstanceMethod<&NativeMount::stats>("stats"),
      InstanceMethod<&NativeMount::requestCounts>("requestCounts"),
      InstanceMethod<&NativeMount::openHashes>("openHashes"),
      InstanceMethod<&NativeMount::dropIdleFiles>("dropIdleFiles"),
      InstanceMethod<&NativeMount::drainAccessed>("drainAccessed"),
      InstanceMethod<&NativeMount::pendingCount>("pendingCount"),
    });
  }

  // new NativeMount({mountpoint, cacheDir, threads, noOpen: boolean | 'auto'}, onMiss(hash, size))
  explicit NativeMount(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMount>(info) {
    guardedJs(info.Env(), [&] { construct(info); return info.Env().Undefined(); });
  }

  ~NativeMount() override { stop(); }

 private:
  void construct(const Napi::CallbackInfo& info) {
    Napi::Object opts = info[0].As<Napi::Object>();
    LazyFs::Options options;
    options.mountpoint = opts.Get("mountpoint").As<Napi::String>().Utf8Value();
    options.cacheDir = opts.Get("cacheDir").As<Napi::String>().Utf8Value();
    options.threads = opts.Get("threads").As<Napi::Number>().Uint32Value();
    // true, false or "auto" (the JS layer checks which)
    const Napi::Value noOpen = opts.Get("noOpen");
    options.noOpen = noOpen.IsString() ? LazyFs::Options::NoOpen::Auto
                     : noOpen.ToBoolean().Value() ? LazyFs::Options::NoOpen::On : LazyFs::Options::NoOpen::Off;
    onMiss_ = MissFunction::New(info.Env(), info[1].As<Napi::Function>(), "sway-fuse-miss", 0, 1);
    made_ = true;
    fs_ = std::make_unique<LazyFs>(std::move(options), [this](const std::string& hash, uint64_t size) {
      return onMiss_.NonBlockingCall(new Miss{hash, size}) == napi_ok;
    }, [this](const std::string& hash, uint64_t size, uint32_t chunkSize, uint32_t first, uint32_t count) {
      return onMiss_.NonBlockingCall(new Miss{hash, size, chunkSize, first, count}) == napi_ok;
    });
  }

  Napi::Value mount(const Napi::CallbackInfo& info) { return guardedJs(info.Env(), [&] { return doMount(info); }); }
  Napi::Value doMount(const Napi::CallbackInfo& info) {
    std::string error = fs_->mount();
    if (!error.empty()) {
      Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    napi_add_env_cleanup_hook(info.Env(), &NativeMount::onEnvCleanup, this);
    hookAdded_ = true;
    trackLive(fs_.get());
    return info.Env().Undefined();
  }

  Napi::Value unmount(const Napi::CallbackInfo& info) { return guardedJs(info.Env(), [&] { return doUnmount(info); }); }
  Napi::Value doUnmount(const Napi::CallbackInfo& info) {
    if (hookAdded_) { napi_remove_env_cleanup_hook(info.Env(), &NativeMount::onEnvCleanup, this); hookAdded_ = false; }
    stop();
    return info.Env().Undefined();
  }

  // Node is exiting with the filesystem still mounted.
  static void onEnvCleanup(void* self) {
    auto* mount = static_cast<NativeMount*>(self);
    mount->hookAdded_ = false;
    mount->stop();
  }

  // Shut the session down, then release the thread-safe function (in that order).
  void stop() {
    if (fs_) { untrackLive(fs_.get()); fs_->shutdown(); }
    if (made_ && !released_) { released_ = true; onMiss_.Release(); }
  }

  // loadImage(id, names[], columns)
  Napi::Value loadImage(const Napi::CallbackInfo& info) { return guardedJs(info.Env(), [&] { return doLoadImage(info); }); }
  Napi::Value doLoadImage(const Napi::CallbackInfo& info) {
    std::string id = info[0].As<Napi::String>().Utf8Value();
    std::vector<std::string> names = stringArray(info[1]);
    Napi::Object c = info[2].As<Napi::Object>();
    sway::ImageColumns cols;
    cols.names = stringArray(c.Get("names"));
    cols.parents = typedArray<int32_t, Napi::Int32Array>(c.Get("parents"));
    cols.kinds = typedArray<uint8_t, Napi::Uint8Array>(c.Get("kinds"));
    cols.modes = typedArray<uint32_t, Napi::Uint32Array>(c.Get("modes"));
    cols.uids = typedArray<uint32_t, Napi::Uint32Array>(c.Get("uids"));
    cols.gids = typedArray<uint32_t, Napi::Uint32Array>(c.Get("gids"));
    cols.mtimes = typedArray<double, Napi::Float64Array>(c.Get("mtimes"));
    cols.sizes = typedArray<double, Napi::Float64Array>(c.Get("sizes"));
    cols.hashes = stringArray(c.Get("hashes"));
    cols.targets = stringArray(c.Get("targets"));
    cols.linkTo = typedArray<int32_t, Napi::Int32Array>(c.Get("linkTo"));
    if (c.Has("chunkSizes")) cols.chunkSizes = typedArray<uint32_t, Napi::Uint32Array>(c.Get("chunkSizes"));
    // xattrs: one element per entry, null or a flat [name, Buffer, name, Buffer, ...].
    Napi::Array xattrs = c.Get("xattrs").As<Napi::Array>();
    cols.xattrs.resize(cols.names.size());
    for (uint32_t i = 0; i < xattrs.Length(); i++) {
      Napi::Value v = xattrs.Get(i);
      if (!v.IsArray()) continue;
      Napi::Array flat = v.As<Napi::Array>();
      for (uint32_t j = 0; j + 1 < flat.Length(); j += 2) {
        Napi::Buffer<char> value = flat.Get(j + 1).As<Napi::Buffer<char>>();
        cols.xattrs[i].emplace_back(flat.Get(j).As<Napi::String>().Utf8Value(), std::string(value.Data(), value.Length()));
      }
    }
    fs_->addImage(sway::buildImage(std::move(id), std::move(names), std::move(cols)));
    return info.Env().Undefined();
  }

  Napi::Value unloadImage(const Napi::CallbackInfo& info) {
    return guardedJs(info.Env(), [&] { return Napi::Boolean::New(info.Env(), fs_->removeImage(info[0].As<Napi::String>().Utf8Value())); });
  }

  // blobReady(hash, errno): errno 0 means the blob is now in the cache.
  Napi::Value blobReady(const Napi::CallbackInfo& info) {
    return guardedJs(info.Env(), [&] {
      fs_->blobReady(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value());
      return info.Env().Undefined();
    });
  }

  // chunksReady(hash, first, count, errno, fetchedBytes)
  Napi::Value chunksReady(const Napi::CallbackInfo& info) {
    return guardedJs(info.Env(), [&] {
      fs_->chunksReady(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Uint32Value(),
                       info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Int32Value(),
                       static_cast<uint64_t>(info[4].As<Napi::Number>().DoubleValue()));
      return info.Env().Undefined();
    });
  }

  // stats() -> total counters; stats(idOrAlias) -> that image's, or null.
  Napi::Value stats(const Napi::CallbackInfo& info) { return guardedJs(info.Env(), [&] { return doStats(info); }); }
  Napi::Value doStats(const Napi::CallbackInfo& info) {
    if (info.Length() == 0 || info[0].IsUndefined()) return countersToJs(info.Env(), fs_->total());
    auto counters = fs_->countersOf(info[0].As<Napi::String>().Utf8Value());
    if (!counters) return info.Env().Null();
    return countersToJs(info.Env(), *counters);
  }

  // requestCounts() -> { OPEN: n, "LOOKUP@root": n, ... }: requests the kernel sent on the
  // connection, by opcode, those about the mount root apart (only those sent at least
  // once; unnamed opcodes as "op<N>").
  Napi::Value requestCounts(const Napi::CallbackInfo& info) { return guardedJs(info.Env(), [&] { return doRequestCounts(info); }); }
  Napi::Value doRequestCounts(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    const sway::RequestCounts& counts = fs_->requests();
    for (unsigned slot = 0; slot < sway::RequestCounts::kSlots; slot++) {
      const char* known = sway::RequestCounts::name(slot);
      const std::string name = known ? std::string(known) : "op" + std::to_string(slot);
      if (uint64_t n = counts.count(slot)) o.Set(name, Napi::Number::New(info.Env(), static_cast<double>(n)));
      if (uint64_t n = counts.countOnRoot(slot)) o.Set(name + "@root", Napi::Number::New(info.Env(), static_cast<double>(n)));
    }
    return o;
  }

  Napi::Value openHashes(const Napi::CallbackInfo& info) { return guardedJs(info.Env(), [&] { return toJs(info.Env(), fs_->openHashes()); }); }
  void dropIdleFiles(const Napi::CallbackInfo& info) {
    guardedJs(info.Env(), [&] { fs_->dropIdleFiles(); return info.Env().Undefined(); });
  }
  Napi::Value drainAccessed(const Napi::CallbackInfo& info) { return guardedJs(info.Env(), [&] { return toJs(info.Env(), fs_->drainAccessed()); }); }
  Napi::Value pendingCount(const Napi::CallbackInfo& info) {
    return guardedJs(info.Env(), [&] { return Napi::Number::New(info.Env(), static_cast<double>(fs_->pendingCount())); });
  }

  std::unique_ptr<LazyFs> fs_;
  MissFunction onMiss_;
  bool made_ = false;  // the constructor got through (else there is nothing to release)
  bool released_ = false;
  bool hookAdded_ = false;
};

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeMount", NativeMount::define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(sway_fuse, init)
