# node-gyp fallback (used by scripts/build.js when CMake is missing): the same CPU-only
# addon as CMakeLists.txt with the native/no_cuda stubs. Sources are globbed so adding an
# op file needs no edit here.
{
  "targets": [{
    "target_name": "mdmt",
    "sources": [
      "<!@(node -p \"require('fs').readdirSync('native').filter(f=>f.endsWith('.cc')).map(f=>'native/'+f).join(' ')\")",
      "<!@(node -p \"['core','ops','napi','cpu','no_cuda'].flatMap(d=>require('fs').readdirSync('native/'+d).filter(f=>f.endsWith('.cc')).map(f=>'native/'+d+'/'+f)).join(' ')\")"
    ],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native", "kernels"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
                "MDMT_NO_CUDA_REASON=\"mdmt was built without CUDA (node-gyp fallback build)\""],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fexceptions"],
    "cflags": ["-O3"],
    "libraries": ["-lpthread"]
  }]
}
