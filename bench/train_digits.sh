#!/bin/sh
# bench/train_digits.sh: the wall time of the generated digits trainer.
#
# Builds netc, generates the trainer of examples/digits.net, builds it with
# its Makefile (cc -O2 -march=native, as a user would), and trains it for 50 epochs on examples/data/digits.csv on one
# core (taskset, when there is one), 5 times; prints each time and the
# median. The goal is under 2 seconds.
#
#   bench/train_digits.sh           from the repository's top folder
#   RUNS=9 EPOCHS=100 bench/train_digits.sh
set -eu
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
EPOCHS=${EPOCHS:-50}
dir=$(mktemp -d "${TMPDIR:-/tmp}/netc-bench-XXXXXX")
trap 'rm -rf "$dir"' EXIT

make -s build/netc
build/netc trainer examples/digits.net -o "$dir" >/dev/null
make -s -C "$dir" CC=cc >/dev/null

# One core: the trainer is single-threaded; pinning keeps the scheduler
# from moving it between cores mid-run.
pin=""
if command -v taskset >/dev/null 2>&1; then
  pin="taskset -c 0"
fi

data=$(pwd)/examples/data/digits.csv
times=""
i=0
while [ "$i" -lt "$RUNS" ]; do
  start=$(date +%s.%N)
  $pin "$dir/digits_train" --data "$data" --epochs "$EPOCHS" --quiet >"$dir/log"
  end=$(date +%s.%N)
  t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  echo "run $((i + 1)): $t s  ($(cut -c1-60 "$dir/log"))"
  times="$times $t"
  i=$((i + 1))
done

median=$(echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "digits, $EPOCHS epochs, median of $RUNS runs: $median s (goal: under 2 s)"
