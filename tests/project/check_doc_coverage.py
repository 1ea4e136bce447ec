#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every public name has a doc entry: each type, function, concept, alias, variable and macro that a
public header declares at namespace scope (outside `detail` and `kernels` namespaces) must appear as a
word in README.md or docs/*.md. Prints the names that do not, with their header, and exits 1.

Usage: check_doc_coverage.py <project root> [--list]   (--list prints every public name found)"""
import glob
import os
import re
import sys

KEYWORDS = {"if", "for", "while", "switch", "return", "requires", "noexcept", "decltype", "sizeof", "alignas", "alignof",
            "static_assert", "operator", "template", "typename", "explicit", "defined", "__attribute__", "main"}


def strip(text):
    """Comments, string and character literals and preprocessor lines removed (macro names kept)."""
    out, macros, i, n = [], [], 0, len(text)
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)", text, re.M):
        macros.append(m.group(1))
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 2
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" ")
            i = j + 1
        elif c == "#" and (i == 0 or text[i - 1] == "\n" or text[:i].rstrip(" \t").endswith("\n")):
            j = i
            while True:  # a directive, with its continuation lines
                k = text.find("\n", j)
                if k < 0:
                    k = n
                    break
                if text[k - 1] != "\\":
                    break
                j = k + 1
            i = k
        else:
            out.append(c)
            i += 1
    return "".join(out), macros


def declared_name(stmt):
    """The name a namespace-scope declaration introduces, or None."""
    s = " ".join(stmt.split())
    while s.startswith("template"):  # template <...> prefixes, nested angle brackets balanced
        depth, j = 0, s.find("<")
        if j < 0:
            return None
        for k in range(j, len(s)):
            depth += {"<": 1, ">": -1}.get(s[k], 0)
            if depth == 0:
                s = s[k + 1:].strip()
                break
        else:
            return None
    m = re.match(r"(?:inline\s+)?concept\s+(\w+)", s)
    if m:
        return m.group(1)
    m = re.match(r"using\s+(\w+)\s*=", s)
    if m:
        return m.group(1)
    if s.startswith("using") or s.startswith("namespace") or s.startswith("static_assert") or s.startswith("extern"):
        return None
    m = re.match(r"(?:\[\[\w+\]\]\s*)?(?:struct|class|union|enum\s+class|enum)\s+(?:\[\[\w+\]\]\s*)?(\w+)\s*(?:final\s*)?(?:[:{]|$)", s)
    if m:
        return m.group(1)
    # Functions: the identifier before the first top-level '(' that is not a keyword group.
    depth = 0
    for m in re.finditer(r"[()<>]|\b\w+\b", s):
        tok = m.group(0)
        if tok == "(":
            prev = re.findall(r"(\w+)\s*$", s[:m.start()])
            if depth == 0 and prev and prev[0] not in KEYWORDS and not s[:m.start()].rstrip().endswith("::" + prev[0]):
                return None if prev[0].startswith("operator") else prev[0]
            depth += 1
        elif tok == ")":
            depth -= 1
    m = re.search(r"(\w+)\s*(?:=[^=]|\{|$)", s)  # variables: `inline constexpr bool name = ...`
    if m and m.group(1) not in KEYWORDS and re.match(r"(inline|constexpr|static|const)\b", s):
        return m.group(1)
    return None


def public_names(root):
    names = {}
    headers = sorted(glob.glob(os.path.join(root, "include/beacon/**/*.hpp"), recursive=True) +
                     glob.glob(os.path.join(root, "include/beacon/**/*.cuh"), recursive=True))
    for path in headers:
        rel = os.path.relpath(path, os.path.join(root, "include"))
        text, macros = strip(open(path, encoding="utf-8").read())
        for mac in macros:
            if not mac.endswith("_HPP") and not mac.endswith("_CUH") and not mac.startswith("_"):
                names.setdefault(mac, rel)
        scopes = []  # "ns" (public namespace), "hidden" (detail/kernels, class bodies, function bodies)
        stmt = ""
        for tok in re.split(r"([{};])", text):
            if tok == "{":
                head = " ".join(stmt.split())
                m = re.match(r"(?:inline\s+)?namespace\s*([\w:]*)\s*$", head)
                if m:
                    hidden = bool(re.search(r"\b(detail|kernels)\b", m.group(1))) or (scopes and scopes[-1] == "hidden")
                    scopes.append("hidden" if hidden else "ns")
                else:
                    if all(s == "ns" for s in scopes):
                        name = declared_name(head)
                        if name:
                            names.setdefault(name, rel)
                    scopes.append("hidden")
                stmt = ""
            elif tok == "}":
                if scopes:
                    scopes.pop()
                stmt = ""
            elif tok == ";":
                if all(s == "ns" for s in scopes):
                    name = declared_name(stmt)
                    if name:
                        names.setdefault(name, rel)
                stmt = ""
            else:
                stmt += tok
    return names


def main():
    root = sys.argv[1]
    names = public_names(root)
    if "--list" in sys.argv:
        for n, h in sorted(names.items()):
            print(n, h)
        return 0
    docs = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    for p in sorted(glob.glob(os.path.join(root, "docs/*.md"))):
        docs += open(p, encoding="utf-8").read()
    missing = sorted((h, n) for n, h in names.items() if not re.search(r"(?<![\w])" + re.escape(n) + r"(?![\w])", docs))
    print(f"{len(names)} public names in include/beacon, {len(names) - len(missing)} documented in README.md or docs/*.md")
    for h, n in missing:
        print(f"  undocumented: {n} ({h})")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
