// The run-time loader of cuBLASLt, cuBLAS and cuDNN (search order and sonames in loader.h).
// Written by hand rather than taken from a library: what it must do — search these places in
// this order, resolve exactly the ~36 functions of our tables, and report every place looked
// at — is specific to mdmt, and it is a few dlopen/dlsym calls.
#include "loader.h"

#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

#include "../../core/error.h"
#include "cublas_api.h"
#include "cudnn_api.h"

namespace mdmt {
namespace dyn {

const CudnnApi* g_cudnn = nullptr;
const CublasApi* g_cublas = nullptr;
const CublasLtApi* g_cublaslt = nullptr;

[[noreturn]] void not_loaded(const char* library) {
  MDMT_FAIL(code::kDevice, "cuda", library << " is not loaded: " << libraries_problem());
}

namespace {

struct Place {
  std::string where;  // "MDMT_CUDA_LIB_DIR", "LD_LIBRARY_PATH", "system", "pip"
  std::string dir;    // "" for the system: dlopen by soname
  std::string note;   // a step that offers no directory ("LD_LIBRARY_PATH: not set"): reported only
};

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> split(const char* s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* c = s ? s : ""; ; ++c) {
    if (*c == sep || *c == 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (*c == 0) break;
    } else {
      cur += *c;
    }
  }
  return out;
}

void add_glob(const std::string& pattern, std::vector<std::string>& out) {
  glob_t g;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  ::globfree(&g);
}

// Asks Python itself; only when no directory found without it holds an nvidia/ package.
void python_site_packages(std::vector<std::string>& out) {
  FILE* f = ::popen(
      "python3 -c 'import site; print(\"\\n\".join(site.getsitepackages() + [site.getusersitepackages()]))' "
      "2>/dev/null",
      "r");
  if (!f) return;
  char line[4096];
  while (std::fgets(line, sizeof line, f)) {
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (!s.empty()) out.push_back(s);
  }
  ::pclose(f);
}

// Python site-packages directories, the environments a user runs first, without starting
// Python when a glob finds them: $VIRTUAL_ENV, $CONDA_PREFIX, the prefix of every python3 on
// PATH (a venv's bin/python3 -> <venv>/lib/python3.X/site-packages), ~/.local, /usr/local, /usr.
std::vector<std::string> site_packages() {
  std::vector<std::string> cand;
  auto under = [&](const std::string& prefix) {
    add_glob(prefix + "/lib/python3*/site-packages", cand);
    add_glob(prefix + "/lib/python3*/dist-packages", cand);
  };
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* v = std::getenv(var); v && *v) under(v);
  bool python_on_path = false;
  for (const std::string& d : split(std::getenv("PATH"), ':')) {
    if (!is_file(d + "/python3")) continue;
    python_on_path = true;
    under(d + "/..");
  }
  if (const char* h = std::getenv("HOME")) add_glob(std::string(h) + "/.local/lib/python3*/site-packages", cand);
  under("/usr/local");
  under("/usr");
  cand.push_back("/usr/lib/python3/dist-packages");
  bool any = false;
  for (const std::string& s : cand) any = any || is_dir(s + "/nvidia");
  if (!any && python_on_path) python_site_packages(cand);
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& s : cand) {
    char real[PATH_MAX];
    if (!::realpath(s.c_str(), real) || !is_dir(real) || !seen.insert(real).second) continue;
    out.push_back(real);
  }
  return out;
}

// Every place to look, in order, with the steps that offer none as notes.
std::vector<Place> places() {
  std::vector<Place> out;
  auto from_env = [&](const char* var) {
    std::vector<std::string> dirs = split(std::getenv(var), ':');
    if (dirs.empty()) out.push_back({var, "", std::string(var) + ": not set"});
    for (const std::string& d : dirs) out.push_back({var, d, ""});
  };
  from_env("MDMT_CUDA_LIB_DIR");
  from_env("LD_LIBRARY_PATH");
  out.push_back({"system", "", ""});
  size_t before = out.size();
  std::vector<std::string> sites = site_packages();
  for (const std::string& sp : sites)
    for (const char* sub : {"nvidia/cudnn/lib", "nvidia/cu13/lib", "nvidia/cublas/lib", "nvidia/cu12/lib"})
      if (is_dir(sp + "/" + sub)) out.push_back({"pip", sp + "/" + sub, ""});
  if (out.size() == before) {
    std::string list;
    for (const std::string& s : sites) list += (list.empty() ? "" : ", ") + s;
    out.push_back({"pip", "", "pip: no <site-packages>/nvidia/{cudnn,cu13,cublas,cu12}/lib (site-packages: " +
                                   (list.empty() ? std::string("none found") : list) + ")"});
  }
  return out;
}

std::string dl_error() {
  const char* e = ::dlerror();
  return e ? e : "unknown dlopen error";
}

void* open_at(const Place& pl, const std::string& file, int flags, std::vector<std::string>& searched) {
  if (pl.dir.empty()) {
    void* h = ::dlopen(file.c_str(), flags);
    if (!h) searched.push_back("system (ld.so.cache, /lib, /usr/lib): " + dl_error());
    return h;
  }
  const std::string path = pl.dir + "/" + file;
  if (!is_file(path)) {
    searched.push_back(pl.where + " " + pl.dir + ": no " + file);
    return nullptr;
  }
  void* h = ::dlopen(path.c_str(), flags);
  if (!h) searched.push_back(pl.where + " " + path + ": " + dl_error());
  return h;
}

std::string loaded_path(void* h, const Place& pl, const std::string& file) {
  struct link_map* lm = nullptr;
  if (::dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name) return lm->l_name;
  return pl.dir.empty() ? file : pl.dir + "/" + file;
}

std::string dotted(size_t v) {  // MAJOR*10000 + MINOR*100 + PATCH, as cuDNN 9 and cuBLAS(Lt) encode it
  return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
}

// dlsym of every table entry; the names of those absent.
#define MDMT_DYN_RESOLVE(RET, NAME, SYM, PARAMS, ARGS)                        \
  api.SYM = reinterpret_cast<decltype(api.SYM)>(::dlsym(h, #SYM));            \
  if (!api.SYM) missing += std::string(missing.empty() ? "" : ", ") + #SYM;
std::string resolve(void* h, CudnnApi& api) {
  std::string missing;
  MDMT_CUDNN_API(MDMT_DYN_RESOLVE)
  return missing;
}
std::string resolve(void* h, CublasApi& api) {
  std::string missing;
  MDMT_CUBLAS_API(MDMT_DYN_RESOLVE)
  return missing;
}
std::string resolve(void* h, CublasLtApi& api) {
  std::string missing;
  MDMT_CUBLASLT_API(MDMT_DYN_RESOLVE)
  return missing;
}
#undef MDMT_DYN_RESOLVE

// Opens `file` at `pl` and fills `api`; false (with the reason in `searched`) when unusable.
template <class Api>
bool open_table(const Place& pl, const std::string& file, Api& api, std::vector<std::string>& searched, void** handle) {
  void* h = open_at(pl, file, RTLD_NOW | RTLD_LOCAL, searched);
  if (!h) return false;
  std::string missing = resolve(h, api);
  if (!missing.empty()) {
    searched.push_back(pl.where + " " + loaded_path(h, pl, file) + ": lacks " + missing);
    ::dlclose(h);
    return false;
  }
  *handle = h;
  return true;
}

CudnnApi cudnn_table;
CublasApi cublas_table;
CublasLtApi cublaslt_table;
std::vector<LibraryReport>* reports = nullptr;

// cuBLASLt and cuBLAS of one major version from one place (libcublas needs its own Lt).
void load_cublas(const std::vector<Place>& pls, LibraryReport& lt, LibraryReport& bl) {
  for (const Place& pl : pls) {
    if (!pl.note.empty()) {
      lt.searched.push_back(pl.note);
      continue;
    }
    for (int major : {13, 12}) {
      const std::string m = std::to_string(major), flt = "libcublasLt.so." + m, fbl = "libcublas.so." + m;
      void *hlt = nullptr, *hbl = nullptr;
      if (!open_table(pl, flt, cublaslt_table, lt.searched, &hlt)) continue;
      const std::string where = pl.where + " " + loaded_path(hlt, pl, flt);
      const size_t ltv = cublaslt_table.cublasLtGetVersion();
      if (ltv / 10000 != static_cast<size_t>(major)) {
        lt.searched.push_back(where + ": reports version " + dotted(ltv));
        ::dlclose(hlt);
        continue;
      }
      if (!open_table(pl, fbl, cublas_table, bl.searched, &hbl)) {
        lt.searched.push_back(where + ": usable, but no usable " + fbl + " beside it");
        ::dlclose(hlt);
        continue;
      }
      int v[3] = {0, 0, 0};
      const libraryPropertyType props[3] = {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
      for (int i = 0; i < 3; ++i) cublas_table.cublasGetProperty(props[i], &v[i]);
      if (v[0] != major) {
        bl.searched.push_back(pl.where + " " + loaded_path(hbl, pl, fbl) + ": reports major version " + std::to_string(v[0]));
        ::dlclose(hbl);
        ::dlclose(hlt);
        continue;
      }
      lt.found = bl.found = true;
      lt.path = loaded_path(hlt, pl, flt);
      lt.version = dotted(ltv);
      bl.path = loaded_path(hbl, pl, fbl);
      bl.version = std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
      g_cublaslt = &cublaslt_table;
      g_cublas = &cublas_table;
      return;
    }
  }
}

// cuDNN 9 is a shim (libcudnn.so.9) over sub-libraries it opens by soname. When the shim
// comes from an explicit directory, its sub-libraries are opened from that same directory
// first, so the shim finds them already loaded instead of searching for them (and possibly
// finding another cuDNN's). libcudnn_adv (RNN, attention) is not used by mdmt.
void load_cudnn(const std::vector<Place>& pls, LibraryReport& r) {
  static const char* const kParts[] = {"libcudnn_graph.so.9",     "libcudnn_ops.so.9",
                                       "libcudnn_cnn.so.9",       "libcudnn_heuristic.so.9",
                                       "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9"};
  for (const Place& pl : pls) {
    if (!pl.note.empty()) {
      r.searched.push_back(pl.note);
      continue;
    }
    std::vector<void*> parts;
    if (!pl.dir.empty() && is_file(pl.dir + "/libcudnn.so.9"))
      for (const char* part : kParts) {
        if (!is_file(pl.dir + "/" + part)) continue;
        if (void* hp = ::dlopen((pl.dir + "/" + part).c_str(), RTLD_LAZY | RTLD_LOCAL))
          parts.push_back(hp);
        else
          r.searched.push_back(pl.where + " " + pl.dir + "/" + part + " (preloaded part): " + dl_error());
      }
    // A rejected candidate is closed again: left loaded, its soname would answer the later
    // dlopen("libcudnn.so.9") of the system step (and cuDNN's own lookups).
    auto reject = [&parts](void* shim) {
      if (shim) ::dlclose(shim);
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) ::dlclose(*it);
    };
    void* h = nullptr;
    if (!open_table(pl, "libcudnn.so.9", cudnn_table, r.searched, &h)) {
      reject(nullptr);
      continue;
    }
    const size_t v = cudnn_table.cudnnGetVersion();
    if (v / 10000 != 9) {
      r.searched.push_back(pl.where + " " + loaded_path(h, pl, "libcudnn.so.9") + ": reports version " + dotted(v));
      reject(h);
      continue;
    }
    r.found = true;
    r.path = loaded_path(h, pl, "libcudnn.so.9");
    r.version = dotted(v);
    g_cudnn = &cudnn_table;
    return;
  }
}

void load_all() {
  reports = new std::vector<LibraryReport>(3);
  LibraryReport &lt = (*reports)[0], &bl = (*reports)[1], &dnn = (*reports)[2];
  lt.key = "cublasLt", lt.name = "cuBLASLt", lt.wanted = "libcublasLt.so.13 or libcublasLt.so.12";
  bl.key = "cublas", bl.name = "cuBLAS", bl.wanted = "libcublas.so.13 or libcublas.so.12";
  dnn.key = "cudnn", dnn.name = "cuDNN 9", dnn.wanted = "libcudnn.so.9";
  bl.searched.push_back("looked for beside cuBLASLt, which it loads (see cublasLt)");
  const std::vector<Place> pls = places();
  load_cublas(pls, lt, bl);  // first: cuDNN opens cuBLASLt by soname and must get this one
  load_cudnn(pls, dnn);
}

}  // namespace

const std::vector<LibraryReport>& libraries() {
  static std::once_flag once;
  std::call_once(once, load_all);
  return *reports;
}

std::string libraries_problem() {
  std::string missing;
  for (const LibraryReport& r : libraries())
    if (!r.found) missing += (missing.empty() ? "" : ", ") + r.name + " (" + r.wanted + ")";
  if (missing.empty()) return "";
  return "not found: " + missing +
         " (looked in $MDMT_CUDA_LIB_DIR, $LD_LIBRARY_PATH, the system library path and pip's "
         "site-packages/nvidia/*/lib; `mdmt doctor` lists every place)";
}

}  // namespace dyn
}  // namespace mdmt
