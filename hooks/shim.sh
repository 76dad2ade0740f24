#!/bin/sh
# >>> ddx hooks >>> managed by `ddx hooks install`; `ddx hooks uninstall` restores what was here
ddx=$(command -v ddx || command -v "@DDX@") || { echo "ddx hooks: ddx is not installed (was @DDX@); reinstall it, or run: git commit --no-verify" >&2; exit 1; }
exec "$ddx" hooks run @HOOK@ "$@"
# <<< ddx hooks <<<
