#!/usr/bin/env bash
# Fuzzing: runs each cargo-fuzz (libFuzzer) target of fuzz/ in turn for
# SECONDS, then prints per target the executions and whether it found a crash.
# A panic, a run over the -timeout (a hang) or over -rss_limit_mb (a memory
# blow-up) all count as findings; the input is kept in target/fuzz-artifacts/.
#
#   bench/fuzz.sh 600                     (every target, 10 minutes each)
#   bench/fuzz.sh 60 image_ref lock       (some targets)
#   FUZZ_BUNDLE=site.mbundle bench/fuzz.sh 120   (also seed from a real bundle)
#   FUZZ_KEEP_GOING=1 bench/fuzz.sh 600   (go on past crashes, counting them:
#                                          for targets with a known, open finding)
#
# The fuzz crate builds with the nightly toolchain and cargo-fuzz (both
# installed here when missing), into target/fuzz/. The corpus grows in
# target/fuzz-corpus/TARGET across runs; seeds are made by fuzz/make_seeds.py
# from the examples and fixtures into target/fuzz-seeds/. A real bundle
# (FUZZ_BUNDLE, or the lab example built with the meshbundle binary when one is
# already built in target/) adds its seal and its small entries to the seeds.
#
# To replay or minimise a finding by hand:
#   cargo +nightly fuzz run -s none --target-dir target/fuzz TARGET target/fuzz-artifacts/TARGET/crash-…
#   cargo +nightly fuzz tmin -s none --target-dir target/fuzz TARGET target/fuzz-artifacts/TARGET/crash-…
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
	echo "usage: bench/fuzz.sh SECONDS [TARGET...]" >&2
	exit 2
}
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
seconds=$1
shift
all=(bundle_verify seal spec lock secrets image_ref)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
	[[ " ${all[*]} " == *" $t "* ]] || { echo "unknown target \`$t\` (targets: ${all[*]})" >&2; exit 2; }
done

# Address Sanitizer adds little to safe Rust and halves the speed; FUZZ_SANITIZER=address to have it.
sanitizer=${FUZZ_SANITIZER:-none}
rss_mb=${FUZZ_RSS_MB:-256}
timeout_s=${FUZZ_TIMEOUT:-10}
keep_going=()
if [[ ${FUZZ_KEEP_GOING:-} == 1 ]]; then keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
	echo "fuzz: the nightly toolchain is missing; installing it (rustup toolchain install nightly --profile minimal)" >&2
	rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "fuzz: cargo-fuzz is missing; installing it (cargo install cargo-fuzz)" >&2
	cargo install cargo-fuzz
fi
command -v python3 >/dev/null || { echo "fuzz: python3 is needed to make the seeds" >&2; exit 1; }

fuzz=(cargo +nightly fuzz)
common=(-s "$sanitizer" --target-dir target/fuzz)
echo "fuzz: building the targets (nightly, sanitizer $sanitizer)" >&2
"${fuzz[@]}" build "${common[@]}"

seeds=target/fuzz-seeds
mkdir -p "$seeds"
real=${FUZZ_BUNDLE:-}
if [[ -z $real ]]; then
	for bin in target/release/meshbundle target/debug/meshbundle; do
		if [[ -x $bin && ! -f $seeds/lab.mbundle ]]; then
			if "$bin" build --example lab -o "$seeds/lab.mbundle.tmp" >/dev/null 2>&1; then
				mv "$seeds/lab.mbundle.tmp" "$seeds/lab.mbundle"
			fi
			rm -f "$seeds/lab.mbundle.tmp"
			break
		fi
	done
	if [[ -f $seeds/lab.mbundle ]]; then real=$seeds/lab.mbundle; fi
fi
python3 fuzz/make_seeds.py "$seeds" ${real:+"$real"}
if [[ -n $real ]]; then echo "fuzz: seeds include the real bundle $real" >&2; fi

declare -A runs found
for t in "${targets[@]}"; do
	corpus=target/fuzz-corpus/$t
	artifacts=target/fuzz-artifacts/$t
	log=target/fuzz-logs/$t.log
	mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
	echo "fuzz: $t for ${seconds}s (log: $log)" >&2
	# Each fuzzing process keeps a scratch file in TMPDIR: one directory per
	# target, removed after the run (fork mode starts many processes).
	scratch=$(mktemp -d)
	set +e
	TMPDIR=$scratch "${fuzz[@]}" run "${common[@]}" "$t" "$corpus" "$seeds/$t" -- \
		-max_total_time="$seconds" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" -timeout="$timeout_s" \
		-artifact_prefix="$artifacts/" -print_final_stats=1 "${keep_going[@]}" >"$log" 2>&1
	status=$?
	set -e
	rm -rf "$scratch"
	if [[ ${#keep_going[@]} -gt 0 ]]; then
		# Fork mode: `#RUNS: cov: … oom/timeout/crash: O/T/C …` lines.
		last=$(grep -E '^#[0-9]+: .*oom/timeout/crash: ' "$log" | tail -1)
		n=$(sed -n 's/^#\([0-9]*\):.*/\1/p' <<<"$last")
		counts=$(sed -n 's/.*oom\/timeout\/crash: \([0-9]*\/[0-9]*\/[0-9]*\).*/\1/p' <<<"$last")
		runs[$t]=${n:-?}
		if [[ -z $counts || $counts == 0/0/0 ]] && [[ $status -eq 0 ]]; then
			found[$t]="no crash"
		else
			found[$t]="FOUND: oom/timeout/crash ${counts:-?}, inputs in $artifacts/"
		fi
		echo "fuzz: $t: ${runs[$t]} executions, ${found[$t]}" >&2
		continue
	fi
	n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	[[ -n $n ]] || n=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
	runs[$t]=${n:-?}
	if [[ $status -eq 0 ]]; then
		found[$t]="no crash"
	else
		kind=$(grep -m1 -o -E 'ERROR: libFuzzer: [a-z-]+|panicked at [^:]+:[0-9]+' "$log" || echo "exit status $status")
		input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		found[$t]="FOUND: ${kind}${input:+, input $input}"
	fi
	echo "fuzz: $t: ${runs[$t]} executions, ${found[$t]}" >&2
done

echo
printf '%-14s %14s  %s\n' target executions result
failed=0
for t in "${targets[@]}"; do
	printf '%-14s %14s  %s\n' "$t" "${runs[$t]}" "${found[$t]}"
	[[ ${found[$t]} == "no crash" ]] || failed=1
done
exit $failed
