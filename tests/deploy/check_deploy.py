#!/usr/bin/env python3
"""Checks the deployment files in examples/deploy against actorsd.

    check_deploy.py ACTORSD SOURCE_ROOT

- kubernetes/*.yaml: each file parses (a strict reader of block-style YAML:
  mappings, sequences, plain and quoted scalars, JSON flow values, comments and
  --- separators; anything else fails with file:line); each document has
  apiVersion, kind and metadata.name; each container's args use only flags that
  `actorsd --help` lists, with a value where the flag takes one; every $(VAR) in
  the args is in the container's env; every secretKeyRef names a Secret and key
  defined in the directory.
- Dockerfile: the last stage's ENTRYPOINT is actorsd, and its CMD uses only
  listed flags.
- systemd/*.service: one ExecStart each, running /usr/local/bin/actorsd with
  listed flags; every ${VAR} it uses is set in systemd/actors.env.

Everywhere: exactly one of --head and --address, --state-dir only with --head,
and no --token (the token comes from ACTORS_TOKEN in the environment).

Prints what it checked; exits 1 saying what is wrong, 2 on bad usage. Uses the
Python standard library only.
"""

import json
import os
import re
import shlex
import subprocess
import sys


class Problem(Exception):
    """A finding, already worded for the reader (with file:line where known)."""


# ---------------------------------------------------------------------------
# actorsd --help: the flags, and which take a value


def actorsd_flags(actorsd):
    """{flag: takes_value} from `actorsd --help`."""
    try:
        out = subprocess.run([actorsd, "--help"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise Problem(f"cannot run {actorsd} --help: {e}")
    except subprocess.TimeoutExpired:
        raise Problem(f"{actorsd} --help did not finish within 30 s")
    if out.returncode != 0:
        raise Problem(f"{actorsd} --help exited with status {out.returncode}: {out.stderr.strip()}")
    flags = {}
    # "  --port PORT   the head's port", "  --head   run the head",
    # "  --advertise-address ADDR the address ..." (one space before the text).
    # A value's placeholder starts with a capital letter; the text does not.
    for line in out.stdout.splitlines():
        m = re.match(r"^ {2}(--[a-z0-9][a-z0-9-]*)(?: ([A-Z]\S*))?(?:\s|$)", line)
        if m:
            flags[m.group(1)] = m.group(2) is not None
    if not flags:
        raise Problem(f"{actorsd} --help lists no flags; its output was:\n{out.stdout}")
    return flags


def check_command_line(args, flags, where):
    """Checks an actorsd argument list (without the program); returns the flags used."""
    used = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise Problem(f"{where}: '{arg}' is not a flag and follows no flag that takes a value")
        name, eq, _ = arg.partition("=")
        if name not in flags:
            raise Problem(f"{where}: actorsd has no flag '{name}' (actorsd --help lists: {', '.join(sorted(flags))})")
        if flags[name]:
            if not eq:
                if i + 1 >= len(args) or args[i + 1].startswith("--"):
                    raise Problem(f"{where}: {name} needs a value")
                i += 1
        elif eq:
            raise Problem(f"{where}: {name} takes no value, but is given '{arg}'")
        used.append(name)
        i += 1
    if ("--head" in used) == ("--address" in used):
        raise Problem(f"{where}: give exactly one of --head and --address (actorsd refuses otherwise)")
    if "--state-dir" in used and "--head" not in used:
        raise Problem(f"{where}: --state-dir is for the head only (actorsd refuses it on a node)")
    if "--token" in used:
        raise Problem(f"{where}: the token must not be on the command line (visible to every local user); "
                      "pass it in ACTORS_TOKEN")
    return used


# ---------------------------------------------------------------------------
# A strict reader of the block-style YAML the manifests are written in


class Line:
    def __init__(self, number, indent, text):
        self.number = number  # 1-based, in the file
        self.indent = indent  # columns of leading spaces
        self.text = text  # without the indentation, comment and trailing blanks


PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")
NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)$")
# Plain values that some YAML reader (1.1 or 1.2) takes for something other than
# a string, beyond null, true, false and decimal integers: quote them.
AMBIGUOUS = [
    re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|True|TRUE|False|FALSE|Null|NULL)$"),
    re.compile(r"^[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(:[0-5]?[0-9])+|\+[0-9]+|[0-9]+_[0-9_]*)$"),
    re.compile(r"^[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+]?[0-9]+)?$"),
    re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
    re.compile(r"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"),
    re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?$"),
    re.compile(r"^(<<|=)$"),
]


class YamlReader:
    def __init__(self, path):
        self.path = path

    def fail(self, number, why):
        raise Problem(f"{self.path}:{number}: {why}")

    def strip_comment(self, number, text):
        """The text before a comment ('#' at the start or after a blank, outside quotes)."""
        quote = None
        escaped = False
        for i, c in enumerate(text):
            if quote:
                if escaped:
                    escaped = False
                elif c == "\\" and quote == '"':
                    escaped = True
                elif c == quote:
                    quote = None
            elif c in "\"'" and (i == 0 or text[i - 1] in " :-[{,"):
                quote = c
            elif c == "#" and (i == 0 or text[i - 1] == " "):
                return text[:i].rstrip()
        if quote:
            self.fail(number, "a quoted string is not closed on its line (multi-line strings are not supported)")
        return text.rstrip()

    def documents(self, source):
        """The documents of a file, each a list of Lines."""
        docs, current = [], []
        for number, raw in enumerate(source.split("\n"), start=1):
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                self.fail(number, "a tab in the indentation (YAML indents with spaces)")
            if raw.rstrip() == "---":
                docs.append(current)
                current = []
                continue
            if raw.startswith("---") or raw.startswith("..."):
                self.fail(number, f"unsupported document marker '{raw.strip()}'")
            if raw.startswith("%"):
                self.fail(number, "YAML directives are not supported")
            text = self.strip_comment(number, raw)
            if text.strip():
                stripped = text.lstrip(" ")
                current.append(Line(number, len(text) - len(stripped), stripped))
        docs.append(current)
        return [d for d in docs if d]

    def parse(self, source):
        out = []
        for lines in self.documents(source):
            value, end = self.block(lines, 0, lines[0].indent)
            if end < len(lines):
                self.fail(lines[end].number, "unexpected indentation (less than the document's first line)")
            out.append((lines[0].number, value))
        return out

    def block(self, lines, i, indent):
        """The mapping or sequence whose lines start at column `indent`, from lines[i]."""
        if lines[i].indent != indent:
            self.fail(lines[i].number, f"expected indentation {indent}, found {lines[i].indent}")
        if self.is_item(lines[i].text):
            return self.sequence(lines, i, indent)
        return self.mapping(lines, i, indent)

    @staticmethod
    def is_item(text):
        return text == "-" or text.startswith("- ")

    def mapping(self, lines, i, indent):
        result = {}
        while i < len(lines) and lines[i].indent >= indent:
            line = lines[i]
            if line.indent > indent:
                self.fail(line.number, f"unexpected indentation {line.indent} (the mapping here is at {indent})")
            if self.is_item(line.text):
                self.fail(line.number, "a sequence item where a 'key: value' line was expected")
            key, rest = self.key_value(line)
            if key in result:
                self.fail(line.number, f"key '{key}' appears twice in one mapping")
            i += 1
            if rest:
                result[key] = self.scalar(line.number, rest)
            elif i < len(lines) and lines[i].indent > indent:
                result[key], i = self.block(lines, i, lines[i].indent)
            elif i < len(lines) and lines[i].indent == indent and self.is_item(lines[i].text):
                # "key:" then "- item" at the key's own indentation.
                result[key], i = self.sequence(lines, i, indent)
            else:
                result[key] = None
        return result, i

    def sequence(self, lines, i, indent):
        result = []
        while i < len(lines) and lines[i].indent == indent and self.is_item(lines[i].text):
            line = lines[i]
            content = line.text[1:]
            body = content.lstrip(" ")
            if not body:
                i += 1
                if i < len(lines) and lines[i].indent > indent:
                    value, i = self.block(lines, i, lines[i].indent)
                else:
                    value = None
                result.append(value)
                continue
            column = indent + 1 + len(content) - len(body)
            if self.is_item(body):
                self.fail(line.number, "nested '- - ' items are not supported; put the inner sequence on its own lines")
            if self.looks_like_key(body):
                # "- key: value": a mapping whose keys sit at the column of "key".
                lines[i] = Line(line.number, column, body)
                value, i = self.mapping(lines, i, column)
            else:
                value = self.scalar(line.number, body)
                i += 1
            result.append(value)
        if i < len(lines) and lines[i].indent > indent:
            self.fail(lines[i].number, f"unexpected indentation {lines[i].indent} after a sequence at {indent}")
        return result, i

    def looks_like_key(self, text):
        if text[0] in "\"'":
            close = text.find(text[0], 1)
            return close > 0 and text[close + 1:close + 2] == ":"
        m = re.match(r"^[^\s:]+:(\s|$)", text)
        return bool(m)

    def key_value(self, line):
        text = line.text
        if text[0] in "\"'":
            close = text.find(text[0], 1)
            if close < 0 or text[close + 1:close + 2] != ":":
                self.fail(line.number, "a quoted key must be followed by ':'")
            key = self.scalar(line.number, text[:close + 1])
            rest = text[close + 2:]
        else:
            m = re.match(r"^([^\s:]+):(?:\s+(.*))?$", text)
            if not m:
                self.fail(line.number, f"expected 'key: value' or 'key:', found '{text}'")
            key, rest = m.group(1), m.group(2) or ""
            if not PLAIN_KEY.match(key):
                self.fail(line.number, f"unsupported key '{key}' (quote it)")
        return key, rest.strip()

    def scalar(self, number, text):
        first = text[0]
        if first == '"':
            try:
                value, end = json.JSONDecoder().raw_decode(text)
            except json.JSONDecodeError as e:
                self.fail(number, f"bad double-quoted string: {e.msg}")
            if text[end:].strip():
                self.fail(number, f"text after a quoted string: '{text[end:].strip()}'")
            return value
        if first == "'":
            m = re.match(r"^'((?:[^']|'')*)'$", text)
            if not m:
                self.fail(number, "bad single-quoted string (a ' inside is written '')")
            return m.group(1).replace("''", "'")
        if first in "[{":
            try:
                return json.loads(text)
            except json.JSONDecodeError as e:
                self.fail(number, f"a flow value must be JSON here ({e.msg}): '{text}'")
        if first in "|>":
            self.fail(number, "block scalars ('|', '>') are not supported")
        if first in "&*!":
            self.fail(number, "anchors, aliases and tags are not supported")
        if first in "@`%,]}":
            self.fail(number, f"a plain value cannot start with '{first}'; quote it")
        if first == "-" and (len(text) == 1 or text[1] == " "):
            self.fail(number, "a sequence item cannot follow 'key:' on the same line")
        if ": " in text or text.endswith(":"):
            self.fail(number, f"':' inside a plain value is ambiguous; quote it: '{text}'")
        if " #" in text:
            self.fail(number, "unexpected '#'")
        if text not in ("0", "-0") and any(a.match(text) for a in AMBIGUOUS):
            self.fail(number, f"plain value '{text}' is not a string to every YAML reader "
                              "(a boolean, number or date to some); quote it")
        if text in ("null", "~"):
            return None
        if text in ("true", "false"):
            return text == "true"
        if NUMBER.match(text):
            return int(text)
        return text


# ---------------------------------------------------------------------------
# Kubernetes manifests


def get(doc, *path):
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def containers_of(doc):
    """The containers of a Deployment, StatefulSet, DaemonSet, Job or Pod."""
    spec = get(doc, "spec", "template", "spec") if doc.get("kind") != "Pod" else get(doc, "spec")
    return (spec or {}).get("containers") or []


def check_kubernetes(directory, flags, rel):
    files = sorted(f for f in os.listdir(directory) if f.endswith((".yaml", ".yml")))
    if not files:
        raise Problem(f"{rel(directory)}: no .yaml files")
    docs = []  # (file, line, document)
    for name in files:
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8") as f:
            parsed = YamlReader(rel(path)).parse(f.read())
        if not parsed:
            raise Problem(f"{rel(path)}: no document")
        for line, doc in parsed:
            where = f"{rel(path)}:{line}"
            if not isinstance(doc, dict):
                raise Problem(f"{where}: a document must be a mapping")
            for key in ("apiVersion", "kind"):
                if not isinstance(doc.get(key), str) or not doc[key]:
                    raise Problem(f"{where}: the document has no {key}")
            if not isinstance(get(doc, "metadata", "name"), str):
                raise Problem(f"{where}: the {doc['kind']} has no metadata.name")
            docs.append((rel(path), line, doc))
        print(f"ok   {rel(path)}: parsed " + ", ".join(f"{d['kind']} {d['metadata']['name']}"
                                                   for _, d in parsed))

    secrets = {}
    for _, _, doc in docs:
        if doc["kind"] == "Secret":
            keys = set((doc.get("stringData") or {}).keys()) | set((doc.get("data") or {}).keys())
            secrets[doc["metadata"]["name"]] = keys

    roles = set()
    for path, line, doc in docs:
        for c in containers_of(doc):
            where = f"{path}:{line}: {doc['kind']} {doc['metadata']['name']}, container {c.get('name')}"
            args = c.get("args")
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise Problem(f"{where}: args must be a list of strings (the actorsd flags)")
            if c.get("command"):
                raise Problem(f"{where}: the image's ENTRYPOINT is actorsd; give flags in args, not command")
            env = {e.get("name"): e for e in (c.get("env") or [])}
            for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(args)):
                if var not in env:
                    raise Problem(f"{where}: args use $({var}), which is not in the container's env "
                                  "(Kubernetes would pass it on as it is)")
            for e in env.values():
                ref = get(e, "valueFrom", "secretKeyRef")
                if ref is not None:
                    if ref.get("name") not in secrets:
                        raise Problem(f"{where}: env {e['name']} reads Secret '{ref.get('name')}', "
                                      f"which no file in {rel(directory)} defines")
                    if ref.get("key") not in secrets[ref["name"]]:
                        raise Problem(f"{where}: env {e['name']} reads key '{ref.get('key')}', "
                                      f"which Secret {ref['name']} does not have")
            if "ACTORS_TOKEN" not in env:
                raise Problem(f"{where}: no ACTORS_TOKEN in env: the nodes could not join")
            used = check_command_line(args, flags, where)
            roles.add("head" if "--head" in used else "node")
            print(f"ok   {path}: {doc['metadata']['name']} runs actorsd {' '.join(args)}")
            print(f"     flags listed by actorsd --help: {' '.join(used)}")
    if roles != {"head", "node"}:
        raise Problem(f"{rel(directory)}: expected containers running a head (--head) and nodes (--address), "
                      f"found: {', '.join(sorted(roles)) or 'none'}")


# ---------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions(path, rel):
    """(line, INSTRUCTION, arguments) with continuation lines joined."""
    out = []
    pending, start = "", 0
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if not pending:
                start = number
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            text = (pending + line).strip()
            pending = ""
            word, _, rest = text.partition(" ")
            out.append((start, word.upper(), rest.strip()))
    if pending:
        raise Problem(f"{rel(path)}:{start}: the last instruction ends with a line continuation")
    return out


def exec_form(path, line, what, text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Problem(f"{path}:{line}: {what} must be in exec form, a JSON list of strings: {text}")
    return value


def check_dockerfile(path, flags, rel):
    instructions = dockerfile_instructions(path, rel)
    stages = [i for i, (_, word, _) in enumerate(instructions) if word == "FROM"]
    if not stages:
        raise Problem(f"{rel(path)}: no FROM")
    last = instructions[stages[-1]:]
    entrypoint = [(n, a) for n, w, a in last if w == "ENTRYPOINT"]
    cmd = [(n, a) for n, w, a in last if w == "CMD"]
    if len(entrypoint) != 1 or len(cmd) != 1:
        raise Problem(f"{rel(path)}: the last stage needs exactly one ENTRYPOINT and one CMD "
                      f"(has {len(entrypoint)} and {len(cmd)})")
    ep = exec_form(rel(path), entrypoint[0][0], "ENTRYPOINT", entrypoint[0][1])
    if ep != ["/usr/local/bin/actorsd"]:
        raise Problem(f"{rel(path)}:{entrypoint[0][0]}: ENTRYPOINT must be [\"/usr/local/bin/actorsd\"], not {ep}")
    args = exec_form(rel(path), cmd[0][0], "CMD", cmd[0][1])
    used = check_command_line(args, flags, f"{rel(path)}:{cmd[0][0]}: CMD")
    print(f"ok   {rel(path)}: ENTRYPOINT actorsd, CMD {' '.join(args)}")
    print(f"     flags listed by actorsd --help: {' '.join(used)}")


# ---------------------------------------------------------------------------
# systemd units


def env_file_names(path, rel):
    names = set()
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=", line)
            if not m:
                raise Problem(f"{rel(path)}:{number}: expected NAME=VALUE, found '{line}'")
            names.add(m.group(1))
    return names


def check_systemd(directory, flags, rel):
    env_path = os.path.join(directory, "actors.env")
    if not os.path.isfile(env_path):
        raise Problem(f"{rel(directory)}: no actors.env (the example EnvironmentFile)")
    env = env_file_names(env_path, rel)
    units = sorted(f for f in os.listdir(directory) if f.endswith(".service"))
    if not units:
        raise Problem(f"{rel(directory)}: no .service files")
    roles = set()
    for name in units:
        path = os.path.join(directory, name)
        execs = []
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.strip()
                if line.endswith("\\"):
                    raise Problem(f"{rel(path)}:{number}: continued lines are not used here: keep ExecStart on one line")
                if line.startswith("ExecStart="):
                    execs.append((number, line[len("ExecStart="):]))
        if len(execs) != 1:
            raise Problem(f"{rel(path)}: expected one ExecStart= line, found {len(execs)}")
        number, command = execs[0]
        where = f"{rel(path)}:{number}: ExecStart"
        try:
            words = shlex.split(command)
        except ValueError as e:
            raise Problem(f"{where}: cannot split the command line: {e}")
        if not words or words[0] != "/usr/local/bin/actorsd":
            raise Problem(f"{where}: must run /usr/local/bin/actorsd, not '{words[0] if words else ''}'")
        for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", command):
            if var not in env:
                raise Problem(f"{where}: uses ${{{var}}}, which {rel(env_path)} does not set")
        if re.search(r"\$[A-Za-z_]", command):
            raise Problem(f"{where}: write variables as ${{VAR}} (one argument each, even when empty)")
        used = check_command_line(words[1:], flags, where)
        roles.add("head" if "--head" in used else "node")
        print(f"ok   {rel(path)}: ExecStart {command}")
        print(f"     flags listed by actorsd --help: {' '.join(used)}; variables set in {rel(env_path)}")
    if roles != {"head", "node"}:
        raise Problem(f"{rel(directory)}: expected a head unit (--head) and a node unit (--address), "
                      f"found: {', '.join(sorted(roles))}")


def main(argv):
    if len(argv) != 3:
        print("usage: check_deploy.py ACTORSD SOURCE_ROOT", file=sys.stderr)
        return 2
    actorsd, root = argv[1], os.path.abspath(argv[2])
    deploy = os.path.join(root, "examples", "deploy")

    def rel(path):
        return os.path.relpath(path, root)

    try:
        flags = actorsd_flags(actorsd)
        print(f"actorsd --help lists {len(flags)} flags: {' '.join(sorted(flags))}")
        for part in ("systemd", "kubernetes"):
            if not os.path.isdir(os.path.join(deploy, part)):
                raise Problem(f"{rel(os.path.join(deploy, part))}: missing")
        check_systemd(os.path.join(deploy, "systemd"), flags, rel)
        check_dockerfile(os.path.join(deploy, "Dockerfile"), flags, rel)
        check_kubernetes(os.path.join(deploy, "kubernetes"), flags, rel)
    except Problem as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    print("deploy files: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
