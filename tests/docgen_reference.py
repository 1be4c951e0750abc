#!/usr/bin/python3
"""Bash completion and man pages against every command's --help.

For every command and subcommand: each option --help lists is offered by the completion script
(`sisa help --bash-completion`, as the build writes it to BUILD/completion/sisa) and documented
in its man page (`sisa help --man DIR`, as in BUILD/man), which also carries the usage and the
exit statuses; completing in bash gives commands, subcommands, options and file names.
Usage: docgen_reference.py SISA_BINARY BUILD_DIR WORKDIR
"""
import os
import re
import shutil
import subprocess
import sys

SISA, BUILD, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(*args):
    r = subprocess.run([SISA, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sisa {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r.stdout


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
top = run("--help")
commands = re.findall(r"^  ([a-z][a-z-]*) ", top.split("commands:")[1].split("global options")[0], re.M)
subs = {"import": ["idx", "csv", "libsvm", "h5"], "config": ["check", "show", "reference"],
        "gauge": ["plan", "member", "score"]}
pages = [[c] + ([s] if c in subs else []) for c in commands for s in subs.get(c, [None])]
pages = [[w for w in p if w] for p in pages]
check(len(commands) >= 16 and "impact" in commands and "log" in commands,
      f"{len(commands)} commands in sisa --help")

script = run("help", "--bash-completion")
with open(os.path.join(BUILD, "completion", "sisa")) as f:
    check(f.read() == script, "the build wrote the completion script (BUILD/completion/sisa)")
mandir = os.path.join(WORK, "man")
os.makedirs(mandir)
run("help", "--man", mandir)
check(sorted(os.listdir(mandir)) == sorted(f for f in os.listdir(os.path.join(BUILD, "man"))
                                           if f.endswith(".1")),
      "the build wrote the same man pages (BUILD/man)")

missing = []
n_options = 0
for words in pages:
    help_text = run(*words, "--help")
    options = sorted(set(re.findall(r"^ {2}(?:-\w, | {4})--([a-z][a-z0-9-]+)",
                                    help_text.split("options:")[1], re.M)))
    n_options += len(options)
    name = "-".join(words)
    with open(os.path.join(mandir, f"sisa-{name}.1")) as f:
        man = f.read()
    case = script.split(f'    "{" ".join(words)}")')[1].split(";;")[1] if \
        f'    "{" ".join(words)}")' in script else ""
    for o in options:
        if o == "help":
            continue
        if f"\\-\\-{o.replace('-', chr(92) + '-')}" not in man:
            missing.append(f"{name}: --{o} not in its man page")
        if f"--{o}" not in case:
            missing.append(f"{name}: --{o} not completed")
    usage = help_text.split("\n")[0].replace("usage: sisa ", "").replace("-", "\\-")
    if usage.split()[0] not in man or ".SH EXIT STATUS" not in man:
        missing.append(f"{name}: usage or exit statuses missing from the man page")
check(n_options > 80, f"{n_options} options read from the --help texts")
check(not missing, f"every option of {len(pages)} commands and subcommands is completed and in "
                   f"its man page" + (": " + "; ".join(missing[:5]) if missing else ""))
with open(os.path.join(mandir, "sisa.1")) as f:
    index = f.read()
check(all(f"\\fB{c}\\fR" in index for c in commands), "sisa.1 lists every command")

open(os.path.join(WORK, "train.yaml"), "w").close()
cases = [("sisa tr", ["train"]), ("sisa unlearn --ids-f", ["--ids-file"]),
         ("sisa import ", ["idx", "csv", "libsvm", "h5", "--help"]),
         ("sisa import csv --lab", ["--label"]), ("sisa help unl", ["unlearn"]),
         ("sisa train -c trai", ["train.yaml"]), ("sisa impact --quer", ["--queries"])]
for line, want in cases:
    prog = (f"source {BUILD}/completion/sisa; COMP_WORDS=({line}); "
            + ('COMP_WORDS+=(""); ' if line.endswith(" ") else "")
            + 'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _sisa; printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "-c", prog], cwd=WORK, capture_output=True, text=True)
    got = r.stdout.split()
    check(got == want, f"'{line}<TAB>' completes to {got}")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all checks passed")
