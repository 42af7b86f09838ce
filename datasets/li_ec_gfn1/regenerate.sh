#!/usr/bin/env bash
# Regenerate datasets/li_ec_gfn1 from its sampling plans: build, label with GFN1-xTB
# (resumable: run it again after any stop), split, summarise. WORKERS=N sets the oracle
# processes; WORK=DIR the scratch folder (kept, it holds the resume store).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-$here/_work}
mkdir -p "$work/frames"
[ -f "$work/frames/static.extxyz" ] || seimlip data build -c "$here/plan.yaml" -o "$work/frames/static.extxyz"
[ -f "$work/frames/md.extxyz" ] || seimlip data build -c "$here/plan_md.yaml" -o "$work/frames/md.extxyz"
seimlip data label "$work/frames" -o "$work/labelled.extxyz.gz" --workers "${WORKERS:-2}" --timeout 900
seimlip data split "$work/labelled.extxyz.gz" -o "$here" --seed 0
seimlip data stats "$here" --json "$here/stats.json"
