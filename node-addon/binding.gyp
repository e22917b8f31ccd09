{
  # One addon: the glue in src/ plus the C core, whose sources and flags come from the core's build recipe
  # (tools/core.js asks recipe/recipe.sh, or the copy a packed tarball carries in vendor/core).
  "targets": [{
    "target_name": "tasker_core",
    "sources": [
      "src/addon.cc",
      "src/convert.cc",
      "src/errors.cc",
      "src/client.cc",
      "src/handler.cc",
      "src/worker.cc",
      "src/events.cc",
      "<!@(node tools/core.js sources)"
    ],
    "include_dirs": ["<!(node tools/core.js include)"],
    "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
    "defines": ["NAPI_VERSION=8"],
    "cflags_c": ["<!@(node tools/core.js cflags)"],
    "cflags_cc": ["-std=c++17", "-fvisibility=hidden"],
    "libraries": ["<!@(node tools/core.js libs)"],
    "ldflags": ["-Wl,--version-script=<!(node tools/core.js version-script)"]
  }]
}
