#!/usr/bin/env bash
# `vlm template DIR --messages FILE.json [--add-generation-prompt] [--kwargs FILE.json]` on
# the refgen helper's template folders: the printed prompt must equal transformers'
# apply_chat_template output recorded in each conversations.json (a few conversations per
# family; test_chat_template_ref checks all of them through the library). Usage errors exit
# 2, rendering errors exit 1 with one line on stderr.
set -u
VLM=${1:?usage: cli_template.sh path/to/vlm}
PY=/usr/bin/python3
FIX=tests/fixtures/templates
[ -d "$FIX" ] || { echo "SKIP: no $FIX"; exit 77; }
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$PY" - "$VLM" "$FIX" "$tmp" <<'PYEOF' || fail=1
import json, os, subprocess, sys
vlm, fix, tmp = sys.argv[1:4]
bad = 0
checked = 0
for family in sorted(os.listdir(fix)):
    conv_path = os.path.join(fix, family, "conversations.json")
    if not os.path.exists(conv_path):
        continue
    doc = json.load(open(conv_path, encoding="utf-8"))
    convs = doc["conversations"] if isinstance(doc, dict) else doc
    tvars = doc.get("template_vars", {}) if isinstance(doc, dict) else {}
    for i, c in enumerate(convs[:4]):
        if "rendered" not in c or "strftime_now_date" in c:
            continue  # errors and date-dependent prompts are covered by the C tests
        extra = dict(c.get("extra", {}))
        agp = extra.pop("add_generation_prompt", False)
        kwargs = {**tvars, **extra}
        mpath, kpath = os.path.join(tmp, "m.json"), os.path.join(tmp, "k.json")
        json.dump(c["messages"], open(mpath, "w", encoding="utf-8"), ensure_ascii=False)
        json.dump(kwargs, open(kpath, "w", encoding="utf-8"), ensure_ascii=False)
        cmd = [vlm, "template", os.path.join(fix, family), "--messages", mpath, "--kwargs", kpath]
        if agp:
            cmd.append("--add-generation-prompt")
        r = subprocess.run(cmd, capture_output=True)
        checked += 1
        if r.returncode != 0 or r.stdout.decode("utf-8") != c["rendered"]:
            bad += 1
            print(f"FAIL: {family} conversation {i}: rc={r.returncode} stderr={r.stderr.decode()!r}")
            print(f"  want {c['rendered']!r}\n  got  {r.stdout.decode('utf-8', 'replace')!r}")
print(f"cli_template: {checked - bad}/{checked} prompts identical to transformers")
sys.exit(1 if bad or checked == 0 else 0)
PYEOF

# Usage and input errors.
"$VLM" template >/dev/null 2>&1; [ $? -eq 2 ] || { echo "FAIL: no arguments should exit 2"; fail=1; }
"$VLM" template "$FIX/qwen3" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "FAIL: missing --messages should exit 2"; fail=1; }
echo '[{"role":"user","content":"hi"}]' >"$tmp/m.json"
"$VLM" template "$tmp/nowhere" --messages "$tmp/m.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no chat template" "$tmp/err" || { echo "FAIL: missing dir: rc=$rc $(cat "$tmp/err")"; fail=1; }
echo '{"role": "user"' >"$tmp/bad.json"
"$VLM" template "$FIX/qwen3" --messages "$tmp/bad.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "bad.json" "$tmp/err" || { echo "FAIL: bad JSON: rc=$rc $(cat "$tmp/err")"; fail=1; }
# An object with "messages" works as well as a bare list.
echo '{"messages": [{"role":"user","content":"hi"}], "add_generation_prompt": true}' >"$tmp/obj.json"
out=$("$VLM" template "$FIX/qwen3" --messages "$tmp/obj.json") || { echo "FAIL: object form"; fail=1; }
[ "$out" = "$(printf '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant')" ] || { echo "FAIL: object form output: $out"; fail=1; }
exit $fail
