#!/usr/bin/env bash
# The package as a consumer gets it (issue 10), run by .ci/run after npm test:
#   1. npm pack (prepack: dist/ts from tsconfig.build.json, the prebuilt addon with the CUDA
#      kernels compiled in); the tarball holds no tests, benchmarks, CI or TypeScript sources;
#   2. a fresh project installs the tarball with only node and npm on PATH (no cc, c++, gcc,
#      g++, cmake, make): the prebuilt addon must be used, nothing compiled;
#   3. a consumer .ts importing train, getModel, listModels, tensor type-checks under
#      tsc --strict (typescript installed in that project) and runs a resnet18 forward pass.
# Needs the npm registry or a warm npm cache (--prefer-offline). MDMT_KEEP=1 keeps the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
t0=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/mdmt-consumer.XXXXXX")
[ "${MDMT_KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT
say() { echo "[consumer-check] $*"; }
die() { echo "[consumer-check] FAIL: $*" >&2; exit 1; }

say "npm pack"
npm pack --pack-destination "$work" > "$work/pack.log" 2>&1 || { tail -40 "$work/pack.log"; die "npm pack failed"; }
grep '\[mdmt pack\]' "$work/pack.log" || true
tgz=$(tail -1 "$work/pack.log")
[ -f "$work/$tgz" ] || { tail -20 "$work/pack.log"; die "npm pack wrote no tarball"; }
tar -tzf "$work/$tgz" | sed 's|^package/||' | sort > "$work/files"
say "$tgz: $(du -k "$work/$tgz" | cut -f1) KiB packed, $(wc -l < "$work/files") files"
# docs/ ships only what README.md links to (the images it shows, ops.md and CONTRIBUTING.md: its
# relative links must work in the installed package)
if grep -vE '^docs/[^/]+\.(png|md)$' "$work/files" | grep -E '^((test|bench|\.ci|ts|docs|kernels/dev)/|scripts/(test|bench|pack)\.js$)'; then die "the tarball holds files consumers must not get (above)"; fi
for f in $(grep -oE '\]\([^)#:]+\)' README.md | sed -E 's/^\]\((.*)\)$/\1/'); do
  grep -qxF "$f" "$work/files" || die "README.md links $f, which the tarball lacks (package.json files)"
done
for f in dist/ts/index.js dist/ts/index.d.ts bin/mdmt.js prebuilds/linux-x64/mdmt.napi.glibc.node scripts/install.js \
  scripts/build.js scripts/export_weights.py CMakeLists.txt binding.gyp native/addon.cc native/cuda/dynload/loader.cc kernels/kernels.h LICENSE README.md; do
  grep -qxF "$f" "$work/files" || die "the tarball lacks $f"
done

# PATH of a machine with Node.js and nothing to compile with (npm runs scripts with sh).
mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"
for tool in cc c++ gcc g++ cmake make; do
  if PATH="$work/bin" command -v "$tool" >/dev/null; then die "$tool is still on the stripped PATH"; fi
done

say "npm install $tgz typescript (PATH: node, npm, sh)"
cd "$work/app"
ts_version=$(node -p "require('$root/package.json').devDependencies.typescript")
PATH="$work/bin" npm init -y >/dev/null
PATH="$work/bin" npm install --prefer-offline --no-audit --no-fund --foreground-scripts "$work/$tgz" "typescript@$ts_version" > "$work/install.log" 2>&1 ||
  { tail -40 "$work/install.log"; die "npm install of the tarball failed"; }
grep -E '\[mdmt install\]' "$work/install.log" || true
[ ! -e node_modules/mdmt/build ] || die "the install compiled the addon (node_modules/mdmt/build exists)"

cat > consumer.ts <<'EOF'
import { addonPath, devices, getModel, listModels, MdmtError, native, noGrad, tensor, tidy, train,
  type Tensor, type TrainConfigInput } from 'mdmt';
// the other entry points README.md names, as a consumer imports them
import { collectImages, collectResults, compileInference, compileStep, experiment, gradCam, predict, writeReport, type PredictOptions } from 'mdmt';
const named: [string, unknown][] = [['collectImages', collectImages], ['collectResults', collectResults], ['compileInference', compileInference],
  ['compileStep', compileStep], ['experiment', experiment], ['gradCam', gradCam], ['predict', predict], ['writeReport', writeReport]];
const predictOptions: PredictOptions = { run: 'runs/x', explain: { dir: 'heatmaps' } };

async function main(): Promise<void> {
  const names: string[] = listModels();
  if (!names.includes('resnet18')) throw new Error(`resnet18 not in ${names.join(', ')}`);
  for (const [n, f] of named) if (typeof f !== 'function') throw new Error(`${n} is not exported as a function`);
  const perr = await predict(['/nonexistent.png'], predictOptions).then(() => null, (e: unknown) => e);
  if (!(perr instanceof MdmtError)) throw new Error(`predict() on a missing run gave ${String(perr)}`);
  const model = getModel('resnet18', { numClasses: 3 }).eval();
  const out: number[] = tidy(() => noGrad(() => {
    const x: Tensor = tensor(Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.sin(i)), [2, 3, 64, 64]);
    const y: Tensor = model.forward(x);
    if (y.shape.join() !== '2,3') throw new Error(`resnet18 output shape ${y.shape}`);
    return Array.from(y.toArray());
  }));
  if (!out.every(Number.isFinite)) throw new Error(`non-finite logits ${out}`);
  const config: TrainConfigInput = { backbone: 'resnet18', experiment: 'stl_afc', outDir: 'runs/x', data: { covidCxr: '/nonexistent/covid-cxr' } };
  const err = await train(config).then(() => null, (e: unknown) => e);
  if (!(err instanceof MdmtError)) throw new Error(`train() on a missing data set gave ${String(err)}`);
  const cuda = devices().find((d) => d.type === 'cuda');
  console.log(JSON.stringify({ addon: addonPath(), cudaCompiled: native().cudaCompiled, logits: out.map((v) => +v.toFixed(4)),
    trainError: err.code, cuda: cuda?.available ? 'available' : cuda?.reason?.slice(0, 80) }));
}
main().catch((e) => { console.error(e); process.exit(1); });
EOF
say "tsc --strict consumer.ts"
# no --esModuleInterop: the published .d.ts must type-check under a bare --strict too (a default
# import of a CommonJS package in it failed there, TS1192)
PATH="$work/bin" node node_modules/typescript/bin/tsc --strict --target ES2022 --module commonjs --moduleResolution node \
  --outDir out consumer.ts || die "consumer.ts does not type-check against the published .d.ts"
say "node out/consumer.js"
result=$(PATH="$work/bin" node out/consumer.js) || die "the consumer program failed"
echo "$result"
echo "$result" | grep -q '"addon":"[^"]*/node_modules/mdmt/prebuilds/linux-x64/mdmt.napi.glibc.node"' || die "the prebuilt addon was not the one loaded"
if [ "${MDMT_PREBUILD_CPU_ONLY:-}" != 1 ]; then
  echo "$result" | grep -q '"cudaCompiled":true' || die "the prebuilt addon has no CUDA backend"
fi
if command -v ldd >/dev/null; then
  ! ldd node_modules/mdmt/prebuilds/linux-x64/mdmt.napi.glibc.node | grep -E 'lib(cudnn|cublas|cublasLt|cudart|cuda)[._]' ||
    die "the prebuilt addon links a CUDA library (above)"
fi
say "ok in $(( $(date +%s) - t0 )) s"
