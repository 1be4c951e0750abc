#!/usr/bin/env python3
"""Checks that the headers are self-contained and that the build holds the layering.

    check_headers.py headers  BUILD SOURCE [--cc CC] [--cxx CXX] [--nm NM] [--jobs N]
    check_headers.py layering BUILD SOURCE [--cc CC] [--jobs N]

The layers, their include roots and their public and third-party headers come from the manifest
cmake/SisaLayers.cmake writes (BUILD/layers/layers.tsv); each layer's compiler flags are the
ones the build really uses, taken from BUILD/compile_commands.json (the flags most of the
layer's sources are compiled with).

headers:  every public header (include/sisa/*.h) compiles alone as C11 with -Wall -Wextra
          -Werror -pedantic against include/ only, and, when a C++ compiler is given, as C++11
          and C++17, with C linkage for every function it declares (checked on the object's
          undefined symbols); every internal header compiles alone with its layer's flags.
layering: the table of docs/design.md "Layers" states what cmake/SisaLayers.cmake declares;
          with each layer's flags (and the command's), every header of a layer it may not
          include fails to compile as not found, while its own and those below are found; the
          third-party headers of other layers are out of its reach (or, where the compiler finds
          them without any flag, not included by its sources); and its sources include other
          layers' headers only by their folder names, never by relative paths.
"""
import argparse
import collections
import concurrent.futures
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

Layer = collections.namedtuple(
    "Layer", "target name dir below folders headers third_party")


def fail_exit(msg):
    print("check_headers: " + msg, file=sys.stderr)
    sys.exit(2)


def split(field):
    return [x for x in field.split(",") if x]


def read_manifest(build):
    path = os.path.join(build, "layers", "layers.tsv")
    if not os.path.exists(path):
        fail_exit(path + ": missing (configure the build first)")
    layers, public, program = [], None, None
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if cols[0] == "layer":
                folders = dict(p.split("=", 1) for p in split(cols[5]))
                layers.append(Layer(cols[1], cols[2], cols[3], split(cols[4]), folders,
                                    split(cols[6]), split(cols[7])))
            elif cols[0] == "public":
                public = (cols[1], cols[2], split(cols[3]))
            elif cols[0] == "program":
                program = (cols[1], cols[2])
    if not layers or public is None or program is None:
        fail_exit(path + ": incomplete manifest")
    return layers, public, program


def target_flags(build):
    """{target: (compiler, [flags])}: for each target the flags most of its sources share."""
    path = os.path.join(build, "compile_commands.json")
    if not os.path.exists(path):
        fail_exit(path + ": missing (CMAKE_EXPORT_COMPILE_COMMANDS is on in CMakeLists.txt)")
    seen = collections.defaultdict(collections.Counter)
    for e in json.load(open(path)):
        args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
        compiler, rest, flags, target = args[0], args[1:], [], None
        i = 0
        while i < len(rest):
            a = rest[i]
            if a in ("-o", "-c", "-MT", "-MF"):
                if a == "-o":
                    m = re.search(r"CMakeFiles/([^/]+)\.dir/", rest[i + 1])
                    target = m.group(1) if m else None
                i += 2
                continue
            if a not in ("-MD", "-MMD") and a != e["file"]:
                flags.append(a)
            i += 1
        if target:
            seen[target][(compiler,) + tuple(flags)] += 1
    return {t: (c[0], list(c[1:])) for t, cnt in seen.items()
            for c in [cnt.most_common(1)[0][0]]}


class Compiler:
    """Compiles small translation units in an empty folder (so that a quoted include cannot be
    found beside the TU) and keeps the failures to report."""

    def __init__(self, build, jobs):
        self.tmp = tempfile.mkdtemp(prefix="check-", dir=os.path.join(build, "layers"))
        self.jobs = jobs
        self.count = 0
        self.failures = []

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, argv, text, suffix=".c", extra_out=None):
        """Compiles `text`; returns (ok, stderr)."""
        fd, src = tempfile.mkstemp(suffix=suffix, dir=self.tmp)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        cmd = list(argv) + [src]
        if extra_out is None:
            cmd.append("-fsyntax-only")
        else:
            cmd += ["-c", "-o", extra_out]
        p = subprocess.run(cmd, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        os.unlink(src)
        self.count += 1
        return p.returncode == 0, p.stderr

    def all(self, jobs):
        """jobs: [(description, fn)], fn() -> None or a failure sentence."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.jobs) as ex:
            for desc, msg in zip([d for d, _ in jobs], ex.map(lambda j: j[1](), jobs)):
                if msg:
                    self.failures.append("%s: %s" % (desc, msg))


# After the include: a TU of macros only would be empty, which -pedantic rejects.
TAIL = "\ntypedef int sisa_header_check_tu_;\n"


def first_lines(text, n=6):
    lines = text.strip().splitlines()
    return "\n    " + "\n    ".join(lines[:n]) if lines else ""


def headers_in(folder):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.h")))


# ---- headers ------------------------------------------------------------------------------


def check_headers(args, layers, public, program, flags, cc):
    inc, gen, pub = public
    declared = sorted(os.path.basename(h) for h in pub)
    present = sorted(set(headers_in(os.path.join(inc, "sisa")) +
                         headers_in(os.path.join(gen, "sisa"))))
    if declared != present:
        cc.failures.append(
            "public headers: include/sisa has %s, the layers declare %s (every public header "
            "belongs to one layer's PUBLIC_HEADERS in CMakeLists.txt, which also installs it)"
            % (present, declared))

    c_flags = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wstrict-prototypes",
               "-Wundef", "-Werror", "-I" + inc, "-I" + gen]
    jobs = []
    for h in declared:
        text = "#include <sisa/%s>%s" % (h, TAIL)

        def c_alone(text=text):
            ok, err = cc.run([args.cc] + c_flags, text)
            return None if ok else "does not compile alone as C11" + first_lines(err)

        jobs.append(("sisa/" + h + " (C11)", c_alone))
        if args.cxx:
            for std in ("c++11", "c++17"):
                def cxx_alone(text=text, std=std, h=h):
                    return cxx_check(args, cc, h, text, std, c_flags, inc, gen)
                jobs.append(("sisa/%s (%s)" % (h, std.upper()), cxx_alone))

    for layer in layers + [program_layer(program)]:
        if not layer.dir or layer.target not in flags:
            continue
        compiler, fl = flags[layer.target]
        for h in headers_in(layer.dir):
            name = "%s/%s" % (layer.name, h) if layer.name else h

            def internal(name=name, compiler=compiler, fl=fl):
                ok, err = cc.run([compiler] + fl + ["-Werror"], '#include "%s"%s' % (name, TAIL))
                return None if ok else "does not compile alone" + first_lines(err)

            jobs.append(("%s (%s)" % (name, layer.target), internal))
    cc.all(jobs)
    if not args.cxx:
        print("check_headers: no C++ compiler given: public headers checked as C only")


def cxx_check(args, cc, h, text, std, c_flags, inc, gen):
    cxx_flags = ["-x", "c++", "-std=" + std, "-Wall", "-Wextra", "-Werror", "-pedantic",
                 "-I" + inc, "-I" + gen]
    ok, err = cc.run([args.cxx] + cxx_flags, text, suffix=".cpp")
    if not ok:
        return "does not compile alone as C++" + first_lines(err)
    # The functions the header declares, as the C compiler sees them.
    aux = os.path.join(cc.tmp, "aux-%s-%s.txt" % (h, std))
    ok, err = cc.run([args.cc] + c_flags + ["-aux-info", aux], text)
    if not ok or not os.path.exists(aux):
        return "the C compiler lists no declarations (-aux-info)" + first_lines(err)
    names = []
    with open(aux) as f:
        for line in f:
            m = re.match(r"/\* (\S+):\d+:\w+ \*/ .*?(\w+) \(", line)
            if m and os.path.basename(m.group(1)) == h and "/sisa/" in m.group(1):
                names.append(m.group(2))
    os.unlink(aux)
    if not names:
        return None
    # A C++ TU that takes every function's address must reference the C names.
    refs = ",\n".join("    reinterpret_cast<sisa_fn_>(&%s)" % n for n in names)
    obj = os.path.join(cc.tmp, "link-%s-%s.o" % (h, std))
    ok, err = cc.run([args.cxx] + cxx_flags,
                     '#include <sisa/%s>\ntypedef void (*sisa_fn_)(void);\n'
                     'extern sisa_fn_ const sisa_header_fns_[];\n'
                     'sisa_fn_ const sisa_header_fns_[] = {\n%s\n};\n' % (h, refs),
                     suffix=".cpp", extra_out=obj)
    if not ok:
        return "taking the address of its functions fails in C++" + first_lines(err)
    p = subprocess.run([args.nm, "-u", obj], stdout=subprocess.PIPE, universal_newlines=True)
    os.unlink(obj)
    undefined = {ln.split()[-1] for ln in p.stdout.splitlines() if ln.strip()}
    mangled = sorted(n for n in names if n not in undefined)
    if mangled:
        return ("declares %s without C linkage in C++ (no extern \"C\" around them): a C++ "
                "program calling them does not link" % ", ".join(mangled))
    return None


def program_layer(program):
    target, folder = program
    return Layer(target, "", folder, [], {}, [], [])


# ---- layering -----------------------------------------------------------------------------


def docs_table(source):
    """Rows of the table of docs/design.md "Layers": {target: row dict}."""
    path = os.path.join(source, "docs", "design.md")
    lines = open(path).read().splitlines()
    try:
        start = next(i for i, ln in enumerate(lines)
                     if re.match(r"\|\s*layer\s*\|\s*folder\s*\|", ln))
    except StopIteration:
        fail_exit(path + ': no table "| layer | folder | ..." in the section "Layers"')
    head = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = dict(zip(head, [c.strip() for c in ln.strip().strip("|").split("|")]))
        target = re.sub(r"[`*]", "", cells["library target"]).split()[0]
        rows[target] = {
            "layer": re.sub(r"[`*]", "", cells["layer"]),
            "folder": re.sub(r"[`*]", "", cells["folder"]).split()[0] if "`" in cells["folder"]
            else "",
            "may include": set(re.findall(r"`([a-z]+)`", cells["may include"])),
            "public": set(re.findall(r"`sisa/([a-z]+\.h)`", cells["public headers"])),
            "third party": set(re.findall(r"<([\w./]+)>", cells["third-party headers"])),
        }
    return rows


def check_docs(source, layers, program, cc):
    rows = docs_table(source)
    want = {}
    for l in layers:
        want[l.target] = {
            "layer": l.name or l.target.replace("sisa_", ""),
            "folder": os.path.relpath(l.dir, source) + "/" if l.dir else "",
            "may include": set(l.folders) - {l.name},
            "public": set(os.path.basename(h) for h in l.headers if not any(
                h in b.headers for b in layers if b.target in l.below)),
            "third party": set(l.third_party),
        }
    for target, w in want.items():
        if target not in rows:
            cc.failures.append("docs/design.md: the layer table has no row for %s" % target)
            continue
        for key in ("layer", "may include", "public", "third party"):
            if rows[target][key] != w[key]:
                cc.failures.append("docs/design.md: layer table, %s, %s: the table says %s, "
                                   "CMakeLists.txt declares %s" % (target, key,
                                                                   sorted(rows[target][key])
                                                                   if isinstance(w[key], set)
                                                                   else rows[target][key],
                                                                   sorted(w[key])
                                                                   if isinstance(w[key], set)
                                                                   else w[key]))
        if w["folder"] and rows[target]["folder"] != w["folder"]:
            cc.failures.append("docs/design.md: layer table, %s: folder %s, CMakeLists.txt has %s"
                               % (target, rows[target]["folder"], w["folder"]))
    for target in rows:
        if target not in want and target != program[0]:
            cc.failures.append("docs/design.md: the layer table names %s, which CMakeLists.txt "
                               "does not declare as a layer" % target)
    if program[0] not in rows:
        cc.failures.append("docs/design.md: the layer table has no row for the command %s"
                           % program[0])
    elif rows[program[0]]["may include"]:
        cc.failures.append("docs/design.md: layer table, %s: the command includes the public "
                           "headers only, the table says %s"
                           % (program[0], sorted(rows[program[0]]["may include"])))


def not_found(err, name):
    return ("%s: No such file or directory" % name) in err


def check_layering(args, layers, public, program, flags, cc):
    check_docs(args.source, layers, program, cc)
    inc, gen, pub = public
    all_folders = {}
    for l in layers:
        all_folders.update(l.folders)
    owner = {t: l.target for l in layers for t in l.third_party}
    prog = program_layer(program)
    views = [(l, set(l.folders), set(os.path.basename(h) for h in l.headers)) for l in layers]
    views.append((prog, set(), set(os.path.basename(h) for h in pub)))

    # Third-party headers the compiler finds without any flag cannot be held by include paths.
    on_default_path = set()
    for t in owner:
        ok, _ = cc.run([args.cc, "-std=c11"], "#include <%s>" % t + TAIL)
        if ok:
            on_default_path.add(t)

    jobs = []
    for layer, folders, headers in views:
        if layer.target not in flags:
            cc.failures.append("%s: no compile command in compile_commands.json" % layer.target)
            continue
        compiler, fl = flags[layer.target]
        argv = [compiler] + fl

        def expect_missing(name, argv=argv, layer=layer):
            ok, err = cc.run(argv, '#include "%s"' % name + TAIL)
            if ok:
                return "%s's flags reach it (a layer may include only its own headers and " \
                       "those of the layers below it)" % layer.target
            if not not_found(err, name):
                return "fails to compile, but not as not found:" + first_lines(err)
            return None

        def expect_found(names, argv=argv, layer=layer):
            errs = ["(no headers)"]
            for name in names:
                ok, err = cc.run(argv, '#include "%s"' % name + TAIL)
                if ok:
                    return None
                errs.append(err)
            return "%s's flags reach none of %s:%s" % (layer.target, ", ".join(names),
                                                      first_lines(errs[-1]))

        for f, d in sorted(all_folders.items()):
            names = ["%s/%s" % (f, h) for h in headers_in(d)]
            if f in folders:
                jobs.append(("%s sees %s/" % (layer.target, f),
                             lambda names=names, fn=expect_found: fn(names)))
            else:
                for n in names:
                    jobs.append(("%s includes %s" % (layer.target, n),
                                 lambda n=n, fn=expect_missing: fn(n)))
        for h in sorted(os.path.basename(p) for p in pub):
            n = "sisa/" + h
            if h in headers:
                jobs.append(("%s sees %s" % (layer.target, n),
                             lambda n=n, fn=expect_found: fn([n])))
            else:
                jobs.append(("%s includes %s" % (layer.target, n),
                             lambda n=n, fn=expect_missing: fn(n)))
        for t, o in sorted(owner.items()):
            if o == layer.target or t in on_default_path:
                continue

            def third(t=t, o=o, argv=argv, layer=layer):
                ok, err = cc.run(argv, "#include <%s>" % t + TAIL)
                if ok:
                    return "%s's flags reach <%s>, which belongs to %s only" % (
                        layer.target, t, o)
                if not not_found(err, t):
                    return "fails to compile, but not as not found:" + first_lines(err)
                return None

            jobs.append(("%s includes <%s>" % (layer.target, t), third))
    cc.all(jobs)

    # What include paths cannot hold: headers on the compiler's default path, and quoted
    # includes that a source resolves beside itself.
    scanned = 0
    for layer, folders, headers in views:
        if not layer.dir:
            continue
        for path in sorted(glob.glob(os.path.join(layer.dir, "*.[ch]"))):
            scanned += 1
            rel = os.path.relpath(path, args.source)
            for no, line in enumerate(open(path), 1):
                m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
                if not m:
                    continue
                kind, name = m.groups()
                where = "%s:%d: #include %s%s%s" % (rel, no, kind, name,
                                                     ">" if kind == "<" else '"')
                if kind == "<":
                    o = owner.get(name)
                    if o and o != layer.target:
                        cc.failures.append("%s: <%s> belongs to %s only" % (where, name, o))
                    continue
                first = name.split("/")[0]
                if ".." in name.split("/"):
                    cc.failures.append("%s: a relative path bypasses the layer's include root"
                                       % where)
                elif "/" not in name:
                    if layer.name or not os.path.exists(os.path.join(layer.dir, name)):
                        cc.failures.append("%s: include a header by its folder "
                                           "(\"%s/...\")" % (where, layer.name or "sisa"))
                elif first != "sisa" and first not in folders:
                    cc.failures.append("%s: %s may not include the headers of %s/"
                                       % (where, layer.target, first))
    for h in pub:
        for no, line in enumerate(open(h), 1):
            m = re.match(r"\s*#\s*include\s*<([^>]+)>", line)
            if m and m.group(1) in owner:
                cc.failures.append("%s:%d: a public header includes <%s>"
                                   % (h, no, m.group(1)))
    print("check_headers: scanned the includes of %d sources; on the compiler's default path "
          "(held by that scan only): %s" % (scanned, ", ".join(sorted(on_default_path)) or
                                            "none"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("headers", "layering"))
    ap.add_argument("build")
    ap.add_argument("source")
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--cxx", default="")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    args.build, args.source = os.path.abspath(args.build), os.path.abspath(args.source)
    layers, public, program = read_manifest(args.build)
    flags = target_flags(args.build)
    cc = Compiler(args.build, args.jobs)
    try:
        if args.mode == "headers":
            check_headers(args, layers, public, program, flags, cc)
        else:
            check_layering(args, layers, public, program, flags, cc)
    finally:
        cc.close()
    for f in cc.failures:
        print("FAIL " + f)
    print("check_headers %s: %d compilations, %d failures" % (args.mode, cc.count,
                                                             len(cc.failures)))
    return 1 if cc.failures else 0


if __name__ == "__main__":
    sys.exit(main())
