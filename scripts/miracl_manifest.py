"""Write tasks/miracl-v1.0.json: the md5 of every published MIRACL v1.0 file and the doc, query
and judgment counts, taken from a published ir_datasets package.

Why: the hub commits of miracl/miracl and miracl/miracl-corpus could not be learnt when the
task was pinned, so the data is pinned by content instead. ir_datasets lists, for each file,
the md5 it checks every download against (``etc/downloads.json``; corpus files from
miracl/miracl-corpus, topics and qrels from macavaney/miracl-noauth, a mirror of miracl/miracl
with the same files at the same paths) and the counts it measured (``etc/metadata.json``).
Its ``size_hint`` values are left out: for MIRACL they are not the file sizes (yo docs-0: 10,946
bytes for 49,043 passages; ar dev qrels: 74,893 bytes for 29,197 judgments) and ir_datasets
uses them only to check free disk space.

    .venv/bin/python scripts/miracl_manifest.py /path/to/ir_datasets-0.6.3-py3-none-any.whl
    .venv/bin/python scripts/miracl_manifest.py /path/to/unpacked   # holding ir_datasets/etc/
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

from mlirbench.tasks.miracl import MANIFEST, MIRACL, corpus_dir, qrels_path, topics_path

ETC = ("ir_datasets/etc/downloads.json", "ir_datasets/etc/metadata.json")
URL = re.compile(r"https://huggingface\.co/datasets/(?P<repo>[^/]+/[^/]+)/resolve/main/(?P<path>.+)")
REPOS = {"corpus": "miracl/miracl-corpus", "topics": "macavaney/miracl-noauth"}


def read_package(path: Path) -> tuple[str, dict[str, bytes]]:
    """(ir_datasets version, {ETC file: bytes}) from a wheel or an unpacked package."""
    if path.is_file():
        with zipfile.ZipFile(path) as wheel:
            files = {name: wheel.read(name) for name in ETC}
            init = wheel.read("ir_datasets/__init__.py").decode()
    else:
        base = path if (path / "ir_datasets").is_dir() else path.parent  # the package folder itself
        files = {name: (base / name).read_bytes() for name in ETC}
        init = (base / "ir_datasets/__init__.py").read_text()
    version = re.search(r'^__version__ = "([^"]+)"', init, re.M)
    if not version:
        sys.exit(f"{path}: no __version__ in ir_datasets/__init__.py")
    return version.group(1), files


def entry(download: dict, key: str, expected: PurePosixPath, kind: str) -> list:
    """[path relative to the data root, md5], checking the url matches our layout."""
    match = URL.fullmatch(download["url"])
    if not match or match["repo"] != REPOS[kind] or match["path"] != str(expected):
        sys.exit(f"{key}: url {download['url']} is not {REPOS[kind]}/{expected}")
    return [str(expected), download["expected_md5"]]


def build(version: str, files: dict[str, bytes]) -> dict:
    """The manifest: per language the corpus files in numeric order, docs, and per split topics, qrels, counts."""
    downloads = json.loads(files[ETC[0]])["miracl"]
    metadata = json.loads(files[ETC[1]])
    root = PurePosixPath()
    languages = {}
    for lang in MIRACL.languages:
        numbered = sorted((int(k.rsplit("/", 1)[1]), k) for k in downloads if k.startswith(f"v1.0/{lang}/corpus/"))
        if [n for n, _ in numbered] != list(range(len(numbered))) or not numbered:
            sys.exit(f"{lang}: corpus files are not docs-0 .. docs-<n> without gaps")
        corpus = [entry(downloads[k], k, corpus_dir(root, lang) / f"docs-{n}.jsonl.gz", "corpus") for n, k in numbered]
        splits = {}
        for split in sorted({k.split("/")[2] for k in downloads if k.startswith(f"v1.0/{lang}/")} - {"corpus"}):
            counts = metadata[f"miracl/{lang}/{split}"]
            qrels = downloads.get(f"v1.0/{lang}/{split}/qrels")
            splits[split] = {
                "topics": entry(downloads[f"v1.0/{lang}/{split}/topics"], f"{lang}/{split}/topics",
                                topics_path(root, lang, split), "topics"),
                "qrels": qrels and entry(qrels, f"{lang}/{split}/qrels", qrels_path(root, lang, split), "topics"),
                "queries": counts["queries"]["count"],
                "qrels_count": counts["qrels"]["count"] if qrels else None,
            }
        languages[lang] = {"corpus": [[PurePosixPath(p).name, md5] for p, md5 in corpus],
                           "docs": metadata[f"miracl/{lang}"]["docs"]["count"], "splits": splits}
    return {
        "source": {
            "package": f"ir_datasets {version} (PyPI)",
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
            "why": "content pin: the hub commits of miracl/miracl and miracl/miracl-corpus are unknown, so every "
                   "file is pinned by the md5 ir_datasets checks each download against (corpus: "
                   "miracl/miracl-corpus; topics, qrels: macavaney/miracl-noauth, the same files at the same "
                   "paths as miracl/miracl); docs, queries and qrels_count are ir_datasets' measured counts; "
                   "no sizes: ir_datasets' MIRACL size_hint values are not the file sizes",
            "generator": "scripts/miracl_manifest.py",
        },
        "languages": languages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", type=Path, help="ir_datasets wheel, or a folder holding ir_datasets/etc/")
    parser.add_argument("-o", "--output", type=Path, default=MANIFEST, help=f"default: {MANIFEST}")
    args = parser.parse_args()
    manifest = build(*read_package(args.package))
    text = json.dumps(manifest, indent=1, ensure_ascii=False)
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m[1]) + "]", text)
    args.output.write_text(text + "\n", encoding="utf-8")  # one line per file: reviewable diffs
    print(f"{args.output}: {len(manifest['languages'])} languages")


if __name__ == "__main__":
    main()
