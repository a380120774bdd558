#!/usr/bin/env bash
# Print a command that runs the newest Python >= 3.11 on this machine.
# pyenv shims answer `command -v` but only run with PYENV_VERSION set, so each
# candidate is probed by running it.
set -u
for minor in 13 12 11; do
  if PYENV_VERSION=$(pyenv versions --bare 2>/dev/null | grep -E "^3\.${minor}(\.|$)" | sort -V | tail -n 1) \
     && [ -n "${PYENV_VERSION}" ] && PYENV_VERSION="$PYENV_VERSION" "python3.${minor}" -c '' 2>/dev/null; then
    echo "env PYENV_VERSION=${PYENV_VERSION} python3.${minor}"; exit 0
  fi
  if "python3.${minor}" -c '' 2>/dev/null; then echo "python3.${minor}"; exit 0; fi
done
echo python3
